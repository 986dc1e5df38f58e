"""The invitation tree at a million members: ancestors, branch counts, a branch
quarantine, and the invite-rights check.

Run from the repository root::

    python -m benchmarks.invitation_tree [--quick] [--postgres URL]

What is built, on a throwaway database (a fresh SQLite file; with a PostgreSQL URL,
also a database created next to the one the URL names and dropped afterwards): a
founder, then members that each pick their inviter by preferential attachment (the
chance of being picked grows with the invitees one already has, as in real invitation
networks), 1,000,000 in all, among them one branch of exactly 100,000, plus one chain
of 10,000 members each invited by the previous one (the pathological depth). Rows go
in with ``executemany`` (SQLite) or ``COPY`` (PostgreSQL), materialized paths computed
as ``Member.save`` does.
``--quick``: 100,000 members, a 2,000-deep chain, a 10,000-member branch.

What is measured (medians of repeated runs, one JSON line at the end):

* ``ancestors_deep_ms`` (target ≤ 5): ``tree.ancestor_ids_of`` for the bottom of the
  chain — the ids of its 10,000 ancestors, root first, in one query (its own row: the
  path is the answer). Beside it ``ancestors_deep_rows_ms``: ``tree.ancestors_of``,
  all 10,000 ancestors' id, name and status in one query; ``..._nearest_10_rows_ms``:
  what a page shows; ``ancestors_deep_cte_ms``: the ids by a recursive CTE on
  ``invited_by`` (what the paths replace).
* ``branch_counts_100k_ms`` (target ≤ 300): ``tree.branch_counts`` (members, active,
  quarantined, banned) of a branch of exactly 100,000 members, grown inside the
  network by the same preferential attachment while the rest grew (so its rows are
  spread over the whole table, not packed together).
* ``children_page_ms``: the first page of that member's invitees with the counts of
  each one's branch (two queries).
* ``branch_open_reports_ms``: the open reports against that branch and against each
  child's branch on the first page (two aggregates), with 1,000 open reports spread
  over the network.
* ``branch_suspend_invites_100k_s``: preview plus apply of a suspension of that
  branch's invite rights — a Sanction and an audit entry per member (checked like the
  quarantine's).
* ``branch_quarantine_100k_s`` (target ≤ 15): preview plus apply of a quarantine of
  that branch (``branch_actions``), including an audit entry per member; the
  preview's ``affected`` must equal what was changed, and is checked.
* ``rights_eval_ms`` (target ≤ 5) and ``rights_eval_queries``: ``check_can_invite`` for
  the ordinary member with the most direct invitees; the query count is measured for
  that member and for one with a single invitee and must not differ.
* ``tree_path_mb``: the bytes the paths take (both columns), and the chain's share.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from benchmarks._common import (
    add_database_arguments,
    benchmark_environment,
    count_queries,
    database_description,
    run_per_database,
    say,
    set_up_django,
)

TARGETS = {
    "ancestors_deep_ms": 5,
    "branch_counts_100k_ms": 300,
    "branch_quarantine_100k_s": 15,
    "rights_eval_ms": 5,
}


@dataclass(frozen=True)
class Sizes:
    members: int
    chain_depth: int
    branch_members: int
    repeats: int


FULL = Sizes(members=1_000_000, chain_depth=10_000, branch_members=100_000, repeats=21)
QUICK = Sizes(members=100_000, chain_depth=2_000, branch_members=10_000, repeats=11)
SEED = 20110201  # February 2011, when the scheme we model started


def median_ms(function: Callable[[], Any], repeats: int) -> float:
    function()  # warm the caches once
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


# ---------------------------------------------------------------------------
# Building the tree
# ---------------------------------------------------------------------------


@dataclass
class Shape:
    """Who invited whom: ``parents[id]`` (index 0 unused, the founder has id 1)."""

    parents: list[int]
    branch_root: int
    chain_top: int
    chain_bottom: int


def preferential_attachment(sizes: Sizes) -> Shape:
    """The founder, a network grown by preferential attachment, inside it one branch of
    exactly ``branch_members`` grown the same way and at the same time (its members'
    ids are scattered among everyone else's, as in a real site), and the chain
    hanging from the founder."""
    rng = random.Random(SEED)
    parents = [0, 0, 1]  # id 1 is the founder; id 2, invited by them, roots the branch
    grown = sizes.members - sizes.chain_depth
    in_branch = set(rng.sample(range(3, grown + 1), sizes.branch_members - 1))
    # Every member is in a ``picks`` list once, plus once per invitee: a uniform pick
    # from it is a pick proportional to (invitees + 1).
    network_picks, branch_picks = [1], [2]
    for member_id in range(3, grown + 1):
        picks = branch_picks if member_id in in_branch else network_picks
        parent = picks[rng.randrange(len(picks))]
        parents.append(parent)
        picks.append(parent)
        picks.append(member_id)
    # The chain hangs from the founder: member k+1 invited by member k.
    chain_top = grown + 1
    parents.append(1)
    for member_id in range(chain_top + 1, sizes.members + 1):
        parents.append(member_id - 1)
    return Shape(parents=parents, branch_root=2, chain_top=chain_top, chain_bottom=sizes.members)


COLUMNS = (
    "id",
    "password",
    "is_superuser",
    "display_name",
    "phone_blind_index",
    "phone_ciphertext",
    "phone_masked",
    "language",
    "invited_by_id",
    "role",
    "status",
    "joined_at",
    "is_staff",
    "tree_path",
    "tree_path_overflow",
    "hidden_from_public_tree",
)


def member_rows(shape: Shape) -> Iterator[tuple[Any, ...]]:
    """Rows in id order (inviters before invitees), paths as ``Member.save`` writes
    them. Only the tree's paths are kept in memory; the chain's, which grow
    quadratically, only one at a time."""
    from inviteonly.lib import clock, tree_paths

    # A year ago: every account is old enough to invite (rights_eval runs every rule).
    joined = clock.now() - timedelta(days=365)
    paths: list[bytes] = [b""] * len(shape.parents)
    for member_id in range(1, len(shape.parents)):
        parent = shape.parents[member_id]
        path = tree_paths.child_path(paths[parent] if parent else b"", member_id)
        paths[member_id] = path
        if member_id > shape.chain_top:
            paths[member_id - 1] = b""  # the chain needs only the previous path
        stored = tree_paths.split_path(path)
        yield (
            member_id,
            "!",  # unusable password
            member_id == 1,
            f"Member {member_id}",
            f"{member_id:064x}",
            b"",
            "+7 916 ***-**-00",
            "en",
            parent or None,
            "founder" if member_id == 1 else "member",
            "active",
            joined,
            member_id == 1,
            stored.indexed,
            stored.overflow,
            False,
        )


def load_members(shape: Shape) -> float:
    """Bulk-load every member; returns seconds."""
    from django.db import connection, transaction

    start = time.perf_counter()
    rows = member_rows(shape)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            copy_sql = f"COPY accounts_member ({', '.join(COLUMNS)}) FROM STDIN"
            with raw.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('accounts_member', 'id'), %s)",
                [len(shape.parents) - 1],
            )
        else:
            columns, placeholders = ", ".join(COLUMNS), ", ".join(["%s"] * len(COLUMNS))
            insert = f"INSERT INTO accounts_member ({columns}) VALUES ({placeholders})"  # noqa: S608
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(row)
                if len(batch) == 20_000:
                    cursor.executemany(insert, batch)
                    batch.clear()
            if batch:
                cursor.executemany(insert, batch)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE accounts_member")
        else:
            cursor.execute("ANALYZE")
    return time.perf_counter() - start


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


def ancestors_by_recursive_cte(member_id: int) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE chain(id, inviter) AS ("
            " SELECT id, invited_by_id FROM accounts_member WHERE id = %s"
            " UNION ALL SELECT m.id, m.invited_by_id FROM accounts_member m"
            " JOIN chain ON m.id = chain.inviter)"
            " SELECT id FROM chain",
            [member_id],
        )
        return [row[0] for row in cursor.fetchall()]


def path_bytes() -> tuple[int, int]:
    from django.db import connection

    function = "octet_length" if connection.vendor == "postgresql" else "length"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT SUM({function}(tree_path)), SUM({function}(tree_path_overflow))"  # noqa: S608
            " FROM accounts_member"
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0] or 0), int(row[1] or 0)


def measure(database: str, sizes: Sizes) -> dict[str, Any]:
    from django.db import connection

    from inviteonly.accounts.models import Member
    from inviteonly.audit_log.models import AuditAction, AuditEntry
    from inviteonly.invitations import tree
    from inviteonly.invitations.branch_actions import (
        BranchAction,
        do_apply_branch_action,
        preview_branch_action,
    )
    from inviteonly.invitations.rights import check_can_invite
    from inviteonly.moderation.models import Report, ReportReason, Sanction

    say(f"[{database}] {database_description()}")
    build_start = time.perf_counter()
    shape = preferential_attachment(sizes)
    build_s = time.perf_counter() - build_start
    say(f"[{database}] shape of {sizes.members:,} members in {build_s:.1f} s")
    load_s = load_members(shape)
    say(f"[{database}] loaded in {load_s:.1f} s")
    indexed_bytes, overflow_bytes = path_bytes()
    chain_top = shape.chain_top
    say(
        f"[{database}] paths: {indexed_bytes / 1e6:.1f} MB indexed + "
        f"{overflow_bytes / 1e6:.1f} MB overflow (all of it the {sizes.chain_depth:,}-deep chain)"
    )

    # Ancestors of the bottom of the chain.
    bottom = Member.objects.get(pk=shape.chain_bottom)
    ancestors = tree.ancestors_of(bottom)
    assert len(ancestors) == sizes.chain_depth, len(ancestors)
    assert [each.id for each in ancestors[-3:]] == [bottom.pk - 3, bottom.pk - 2, bottom.pk - 1]
    assert tree.ancestor_ids_of(bottom.pk) == [each.id for each in ancestors]
    with count_queries() as ancestor_queries:
        tree.ancestor_ids_of(bottom.pk)
    with count_queries() as ancestor_row_queries:
        tree.ancestors_of(bottom)
    ancestors_ms = median_ms(lambda: tree.ancestor_ids_of(bottom.pk), sizes.repeats)
    rows_ms = median_ms(lambda: tree.ancestors_of(bottom), sizes.repeats)
    nearest_ms = median_ms(
        lambda: tree.ancestors_of(bottom, nearest=10), sizes.repeats
    )
    assert sorted(ancestors_by_recursive_cte(bottom.pk))[:-1] == sorted(
        each.id for each in ancestors
    )
    cte_ms = median_ms(lambda: ancestors_by_recursive_cte(bottom.pk), sizes.repeats)
    say(
        f"[{database}] ancestors at depth {sizes.chain_depth:,}: ids {ancestors_ms} ms "
        f"({ancestor_queries.queries} query); all {sizes.chain_depth:,} rows {rows_ms} ms "
        f"({ancestor_row_queries.queries} query); the nearest 10 rows {nearest_ms} ms; "
        f"ids by recursive CTE on invited_by {cte_ms} ms"
    )

    branch_members = sizes.branch_members
    root = Member.objects.get(pk=shape.branch_root)
    counts = tree.branch_counts(root)
    assert counts.members == branch_members == counts.active, (counts, branch_members)
    with count_queries() as count_queries_seen:
        tree.branch_counts(root)
    counts_ms = median_ms(lambda: tree.branch_counts(root), sizes.repeats)
    say(
        f"[{database}] counts of a {branch_members:,}-member branch (depth "
        f"{len(tree.ancestor_ids(root))}): {counts_ms} ms ({count_queries_seen.queries} query)"
    )

    def children_page() -> list[tree.ChildBranch]:
        children = list(tree.invitees_of(root)[:50])
        return tree.children_with_counts(root, children)

    page = children_page()
    assert sum(child.counts.members for child in page) <= branch_members - 1
    children_ms = median_ms(children_page, sizes.repeats)
    say(f"[{database}] first page of {len(page)} invitees with branch counts: {children_ms} ms")

    # Rights: the ordinary member with the most direct invitees, and one with a single one.
    invitee_counts = [0] * len(shape.parents)
    for member_id in range(2, len(shape.parents)):
        invitee_counts[shape.parents[member_id]] += 1
    busiest = max(range(2, chain_top), key=lambda member_id: invitee_counts[member_id])
    single = next(m for m in range(2, chain_top) if invitee_counts[m] == 1)
    rights_queries = []
    for member_id in (busiest, single):
        member = Member.objects.get(pk=member_id)
        with count_queries() as seen:
            check_can_invite(member)
        rights_queries.append(seen.queries)
    assert rights_queries[0] == rights_queries[1], rights_queries
    busiest_member = Member.objects.get(pk=busiest)
    rights_ms = median_ms(lambda: check_can_invite(busiest_member), sizes.repeats * 5)
    say(
        f"[{database}] check_can_invite for a member with {invitee_counts[busiest]:,} "
        f"invitees: {rights_ms} ms, {rights_queries[0]} queries (1 invitee: {rights_queries[1]})"
    )

    # Open reports against the branch and each child's branch on the first page.
    moderator = Member.objects.get(pk=1)
    rng = random.Random(SEED)
    Report.objects.bulk_create(
        Report(
            reporter=moderator,
            target_kind="wall_post",
            target_id=number,
            target_member_id=rng.randrange(2, len(shape.parents)),
            reason=ReportReason.SPAM,
        )
        for number in range(1_000)
    )

    def open_reports() -> int:
        tree.with_open_reports(moderator, root, page)
        return tree.open_reports_in_branch(moderator, root)

    with count_queries() as report_queries:
        open_reports()
    open_reports_ms = median_ms(open_reports, sizes.repeats)
    say(
        f"[{database}] {open_reports()} open reports in the branch, with the first page's "
        f"children: {open_reports_ms} ms ({report_queries.queries} queries)"
    )

    # Suspend the branch's invite rights: preview, then apply (statuses stay).
    start = time.perf_counter()
    preview = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES
    )
    applied = do_apply_branch_action(
        moderator=moderator,
        root=root,
        action=BranchAction.SUSPEND_INVITES,
        digest=preview.digest,
        reason="benchmark",
    )
    suspend_s = time.perf_counter() - start
    suspended = Sanction.objects.count()
    audited = AuditEntry.objects.filter(action=AuditAction.INVITE_RIGHTS_SUSPENDED).count()
    assert preview.affected == applied.affected == suspended == audited == branch_members, (
        preview.affected, applied.affected, suspended, audited
    )
    say(
        f"[{database}] invite rights of {suspended:,} members suspended: {suspend_s:.2f} s "
        f"with {audited:,} audit entries"
    )

    # Quarantine the branch: preview, then apply.
    start = time.perf_counter()
    preview = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.QUARANTINE
    )
    preview_s = time.perf_counter() - start
    start = time.perf_counter()
    applied = do_apply_branch_action(
        moderator=moderator,
        root=root,
        action=BranchAction.QUARANTINE,
        digest=preview.digest,
        reason="benchmark",
    )
    apply_s = time.perf_counter() - start
    changed = Member.objects.filter(status=Member.Status.QUARANTINED).count()
    audited = AuditEntry.objects.filter(action=AuditAction.BRANCH_QUARANTINED).count()
    assert preview.affected == applied.affected == changed == audited == branch_members, (
        preview.affected, applied.affected, changed, audited
    )
    say(
        f"[{database}] quarantine of {changed:,} members: preview {preview_s:.2f} s + "
        f"apply {apply_s:.2f} s; {audited:,} audit entries"
    )
    connection.close()
    return {
        "database": database,
        "members": sizes.members,
        "chain_depth": sizes.chain_depth,
        "load_s": round(load_s, 1),
        "tree_path_mb": round((indexed_bytes + overflow_bytes) / 1e6, 1),
        "tree_path_overflow_mb": round(overflow_bytes / 1e6, 1),
        "ancestors_deep_ms": ancestors_ms,
        "ancestors_deep_queries": ancestor_queries.queries,
        "ancestors_deep_rows_ms": rows_ms,
        "ancestors_deep_nearest_10_rows_ms": nearest_ms,
        "ancestors_deep_cte_ms": cte_ms,
        "branch_members": branch_members,
        "branch_counts_100k_ms": counts_ms,
        "branch_counts_queries": count_queries_seen.queries,
        "children_page_ms": children_ms,
        "branch_open_reports_ms": open_reports_ms,
        "branch_open_reports_queries": report_queries.queries,
        "branch_suspend_invites_100k_s": round(suspend_s, 2),
        "branch_quarantine_100k_s": round(preview_s + apply_s, 2),
        "branch_quarantine_preview_s": round(preview_s, 2),
        "branch_quarantine_apply_s": round(apply_s, 2),
        "rights_eval_ms": rights_ms,
        "rights_eval_queries": rights_queries[0],
        "rights_eval_invitees": invitee_counts[busiest],
    }


def meets_targets(result: dict[str, Any]) -> bool:
    return all(result[key] <= target for key, target in TARGETS.items())


# ---------------------------------------------------------------------------
# Parent and child processes
# ---------------------------------------------------------------------------


def child_main(arguments: argparse.Namespace) -> int:
    sizes = QUICK if arguments.quick else FULL
    # The throwaway database is named after the one the URL names, so that it is
    # recognisably the benchmark's of whoever ran it.
    prefix = "inviteonly_bench"
    if arguments.postgres:
        prefix = f"{urlsplit(arguments.postgres).path.lstrip('/') or 'inviteonly'}_tree_bench"
    with benchmark_environment(arguments.database, arguments.postgres, name_prefix=prefix):
        set_up_django()
        result = measure(arguments.database, sizes)
    result["quick"] = arguments.quick
    result["meets_targets"] = meets_targets(result)
    print(json.dumps(result), flush=True)
    return 0


def parent_main(arguments: argparse.Namespace) -> int:
    return run_per_database(
        "benchmarks.invitation_tree", arguments.postgres,
        ["--quick"] if arguments.quick else [], headline=list(TARGETS),
        defaults={"targets": TARGETS},
    )


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.invitation_tree",
        description="The invitation tree at a million members.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="100,000 members and a 2,000-deep chain"
    )
    add_database_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.child:
        return child_main(arguments)
    return parent_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
