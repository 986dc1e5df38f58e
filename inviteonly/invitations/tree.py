"""Reading the invitation tree: ancestors, branches, counts — one query each.

Every member carries a materialized path (lib/tree_paths.py): the ids from the root
down to them. Members never move (``invited_by`` is immutable), so a path is written
once, when the member is created (``Member.save``), and never rewritten.

- ancestors of X: the ids are decoded from X's own path; one ``pk IN`` query loads them;
- the branch under X: one range scan of the index member_tree_path_status on
  ``[path(X), successor(path(X)))``; below depth 256 the scan is on X's ancestor at
  depth 256 and the overflow column narrows it (see docs/internals.md);
- counts by status of a branch: the same range, grouped by status (index-only);
- children with the counts of their branches: one query for a page of the children
  (by id, after a cursor: ``members_page``), one range scan over the children's
  branches grouped by the first path segment below X;
- open reports against a branch (for moderators): one aggregate over the open reports
  whose author (``Report.target_member``) lies in the range, for the branch and, grouped
  by that segment, for each child's branch; only reports against members the viewing
  moderator may act on, as in their report queue.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Substr
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.models import Member, shown_name
from inviteonly.lib import tree_paths
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.models import Report
from inviteonly.moderation.queries import check_is_moderator, roles_moderated_by
from inviteonly.social.queries import keyset_page


@dataclass(frozen=True)
class BranchCounts:
    """How a branch turned out. ``members`` counts everyone in it, those who left the
    network too (a status of its own, in none of the three counts)."""

    members: int = 0
    active: int = 0
    quarantined: int = 0
    banned: int = 0

    @staticmethod
    def of(rows: Iterable[tuple[str, int]]) -> BranchCounts:
        by_status = dict.fromkeys(Member.Status.values, 0)
        for status, count in rows:
            by_status[status] += count
        return BranchCounts(
            members=sum(by_status.values()),
            active=by_status[Member.Status.ACTIVE],
            quarantined=by_status[Member.Status.QUARANTINED],
            banned=by_status[Member.Status.BANNED],
        )


@dataclass(frozen=True)
class TreeNode:
    """A member as a list of inviters shows them."""

    id: int
    display_name: str
    status: str


@dataclass(frozen=True)
class ChildBranch:
    member: Member
    counts: BranchCounts
    # Open reports against members of the branch; None where they are not counted
    # (only moderators see them, see ``with_open_reports``).
    open_reports: int | None = None


def ancestor_ids(member: Member) -> list[int]:
    """Root first; no query at all: the loaded member's path is the answer."""
    return tree_paths.path_ids(member.full_tree_path)[:-1]


def ancestor_ids_of(member_id: int) -> list[int]:
    """Root first, in one query (the member's own row, by primary key)."""
    row = Member.objects.filter(pk=member_id).values_list("tree_path", "tree_path_overflow")
    for indexed, overflow in row:
        return tree_paths.path_ids(bytes(indexed) + bytes(overflow))[:-1]
    return []


def ancestors_of(member: Member, *, nearest: int | None = None) -> list[TreeNode]:
    """The chain of inviters from the root down to ``member``'s inviter (or only the
    ``nearest`` of them), in one query. The ids travel as one parameter (a JSON
    array on SQLite, an array on PostgreSQL), not as 10,000 placeholders."""
    ids = ancestor_ids(member)
    if nearest is not None:
        ids = ids[-nearest:] if nearest > 0 else []
    if not ids:
        return []
    if connection.vendor == "postgresql":
        id_list = RawSQL("SELECT unnest(%s::bigint[])", [ids])
    else:
        id_list = RawSQL("SELECT value FROM json_each(%s)", [json.dumps(ids)])
    rows = Member.objects.filter(pk__in=id_list).values_list("id", "display_name", "status")
    by_id = {row[0]: TreeNode(row[0], shown_name(row[1]), row[2]) for row in rows}
    return [by_id[ancestor_id] for ancestor_id in ids]


def _branch_range(
    path: bytes, *, segment_ids: tuple[int, int] | None = None, via: str = ""
) -> Q:
    """Rows whose full path starts with ``path`` (and, with ``segment_ids``, whose next
    segment lies between the two ids). Written so the range falls on the indexed
    column whenever ``path`` is no deeper than it. ``via`` reaches the member through a
    relation (``"target_member__"``)."""
    low = high = path
    if segment_ids is not None:
        low = path + segment_ids[0].to_bytes(tree_paths.ID_BYTES, "big")
        high = path + segment_ids[1].to_bytes(tree_paths.ID_BYTES, "big")
    stored_low, stored_high = tree_paths.split_path(low), tree_paths.split_path(high)
    upper = tree_paths.successor(stored_high.overflow or stored_high.indexed)
    if not stored_low.overflow and not stored_high.overflow:
        condition = Q(**{f"{via}tree_path__gte": stored_low.indexed})
        if upper is not None:
            condition &= Q(**{f"{via}tree_path__lt": upper})
        return condition
    # Deeper than the indexed column: every row of the branch shares X's indexed part
    # (an equality on the index), the overflow column narrows it.
    condition = Q(
        **{
            f"{via}tree_path": stored_low.indexed,
            f"{via}tree_path_overflow__gte": stored_low.overflow,
        }
    )
    if upper is not None:
        condition &= Q(**{f"{via}tree_path_overflow__lt": upper})
    return condition


def branch_of(member: Member, *, include_root: bool = True) -> QuerySet[Member]:
    """Everyone ``member`` brought in, directly or not (and ``member``), as one query."""
    query = Member.objects.filter(_branch_range(member.full_tree_path))
    if not include_root:
        query = query.exclude(pk=member.pk)
    return query


def branch_counts(member: Member, *, include_root: bool = True) -> BranchCounts:
    rows = (
        branch_of(member, include_root=include_root)
        .order_by()
        .values_list("status")
        .annotate(count=Count("*"))
    )
    return BranchCounts.of(rows)


def invitees_of(member: Member) -> QuerySet[Member]:
    """The members ``member`` invited, oldest first (index member_invitees_in_order)."""
    return Member.objects.filter(invited_by=member).order_by("id")


def roots() -> QuerySet[Member]:
    """Members nobody invited (founders; everyone who joined in open mode), oldest
    first (partial index member_roots_in_order)."""
    return Member.objects.filter(invited_by__isnull=True).order_by("id")


def members_page(
    members: QuerySet[Member], *, after: int | None, limit: int
) -> tuple[list[Member], int | None]:
    """Up to ``limit`` of a list of the tree (``invitees_of``, ``roots`` and their
    public parts, all oldest first by id) after the member ``after`` (None: from the
    first), and the next page's cursor (the last one's id; None on the last page). A
    member who joins, leaves the list or hides between two pages neither repeats nor
    skips another, as an offset did."""
    if after is not None:
        members = members.filter(id__gt=after)
    return keyset_page(list(members[:limit + 1]), limit)


def children_with_counts(
    member: Member | None, children: Sequence[Member]
) -> list[ChildBranch]:
    """The counts of each child's branch (child included), in one query: a range scan
    over exactly these children's branches, grouped by the path segment below
    ``member``. ``children`` are invitees of ``member`` (e.g. a page of
    ``invitees_of``); with None, members nobody invited."""
    if not children:
        return []
    path = member.full_tree_path if member is not None else b""
    rows = (
        Member.objects.filter(_children_range(path, children))
        .order_by()
        .annotate(segment=_child_segment(path))
        .values_list("segment", "status")
        .annotate(count=Count("*"))
    )
    per_child: dict[int, list[tuple[str, int]]] = {}
    for segment_bytes, status, count in rows:
        per_child.setdefault(_child_id(segment_bytes), []).append((status, count))
    return [ChildBranch(child, BranchCounts.of(per_child.get(child.pk, ()))) for child in children]


def _children_range(path: bytes, children: Sequence[Member], *, via: str = "") -> Q:
    child_ids = sorted(child.pk for child in children)
    return _branch_range(path, segment_ids=(child_ids[0], child_ids[-1]), via=via)


def _child_segment(path: bytes, *, via: str = "") -> Substr:
    """The path up to the segment below ``path``: which child's branch a row is in."""
    child_segment_end = len(path) + tree_paths.ID_BYTES
    if child_segment_end <= tree_paths.INDEXED_BYTES:
        return Substr(f"{via}tree_path", 1, child_segment_end)
    return Substr(
        f"{via}tree_path_overflow", 1, child_segment_end - tree_paths.INDEXED_BYTES
    )


def _child_id(segment: bytes | memoryview) -> int:
    return int.from_bytes(bytes(segment)[-tree_paths.ID_BYTES :], "big")


def _open_reports(viewer: Member) -> QuerySet[Report]:
    """The open reports ``viewer`` may know of: as in their report queue, only those
    against members they may act on, so nobody learns from a count that they (or a
    peer, or a founder) were reported."""
    return Report.objects.filter(
        resolved_at__isnull=True, target_member__role__in=roles_moderated_by(viewer)
    ).order_by()


def open_reports_in_branch(viewer: Member, member: Member) -> int:
    """Open reports against ``member`` and everyone in their branch that ``viewer``
    may know of, in one query."""
    return _open_reports(viewer).filter(
        _branch_range(member.full_tree_path, via="target_member__")
    ).count()


def with_open_reports(
    viewer: Member, member: Member | None, children: Sequence[ChildBranch]
) -> list[ChildBranch]:
    """``children`` (of ``member``; with None, members nobody invited) with the open
    reports against their branches that ``viewer`` may know of, in one aggregate
    whatever their number."""
    if not children:
        return []
    path = member.full_tree_path if member is not None else b""
    via = "target_member__"
    rows = (
        _open_reports(viewer)
        .filter(_children_range(path, [child.member for child in children], via=via))
        .annotate(segment=_child_segment(path, via=via))
        .values_list("segment")
        .annotate(count=Count("*"))
    )
    per_child = {_child_id(segment): count for segment, count in rows}
    return [replace(child, open_reports=per_child.get(child.member.pk, 0)) for child in children]


def public_invitees_of(member: Member) -> QuerySet[Member]:
    """What the public tree page lists: invitees who did not hide themselves and are
    not banned."""
    return invitees_of(member).filter(hidden_from_public_tree=False).exclude(
        status=Member.Status.BANNED
    )


def public_roots() -> QuerySet[Member]:
    """What the public tree's first page lists: roots who did not hide themselves and
    are not banned."""
    return roots().filter(hidden_from_public_tree=False).exclude(
        status=Member.Status.BANNED
    )


def check_can_moderate_tree(member: Member) -> None:
    """Moderators and founders browse every branch and act on branches — the check
    (and the 403 answer) of every moderation action: a quarantined or banned moderator
    is no moderator."""
    check_is_moderator(member)


def _no_such_member() -> ActionError:
    return ActionError("member_unknown", _("There is no such member."), status=404)


def _member_by_id(member_id: int) -> Member:
    # Ids outside a path's fixed width cannot exist (and overflow SQLite's integers).
    member = (
        Member.objects.filter(pk=member_id).first()
        if 0 < member_id <= tree_paths.MAX_ID
        else None
    )
    if member is None:
        raise _no_such_member()
    return member


def access_tree_member(viewer: Member, member_id: int) -> Member:
    """A member a moderator looks at in the tree browser."""
    check_can_moderate_tree(viewer)
    return _member_by_id(member_id)


def check_public_tree_open() -> None:
    if not settings.PUBLIC_TREE_PAGE:
        raise ActionError(
            "public_tree_off", _("This site does not publish its invitation tree."), status=404
        )


def access_public_tree_member(member_id: int) -> Member:
    """A member as the public tree shows them: not hidden, not banned (otherwise the
    same answer as for a member who does not exist)."""
    check_public_tree_open()
    member = _member_by_id(member_id)
    if member.hidden_from_public_tree or member.status == Member.Status.BANNED:
        raise _no_such_member()
    return member
