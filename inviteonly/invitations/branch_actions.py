"""A moderator acts on a whole branch of the invitation tree: quarantine, lift the
quarantine, ban, suspend invite rights — always after a preview.

``preview_branch_action`` counts the branch and returns a digest of every member's id,
status and role in it (and, for a suspension, which suspension of theirs lasts
longest). ``do_apply_branch_action`` recomputes that digest with the branch rows
locked and refuses when it differs, so what it applies is exactly what the moderator
saw.

Each affected member gets what a moderator's decision about them alone gives
(moderation/actions.py): a quarantine, a ban or a suspension of invite rights is one
``Sanction`` per member, with the notice and an audit entry; lifting the quarantine
ends every quarantine in force of the quarantined members, as a moderator ending each
would (declared a mistake), and tells each of them. Statuses are then recomputed from
the sanctions in force (``sanctioned_status``), so a later decision about one member
keeps the branch's. Everything is set-based — one INSERT … SELECT each for the
sanctions, the notices and the audit entries, one UPDATE for the statuses — whatever
the size of the branch (100,000 members take seconds, see
benchmarks/invitation_tree.py).

Founders and moderators inside a branch are left alone: a branch action is for
members. Members who join under the branch after the preview are not touched (the
targets stop at the highest id the preview saw).

A suspension of invite rights (optionally until a date) leaves out the members whose
suspension in force already lasts at least as long (without end, or ending no
earlier); a shorter one is replaced in effect, as the rights engine
(invitations/rights.py) reads the longest suspension in force. Give the preview the
same end date as the application to see the exact count.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.models import Member
from inviteonly.audit_log.actions import ALLOWED_DETAIL_KEYS, record_audit_entry
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.tree import BranchCounts, branch_of, check_can_moderate_tree
from inviteonly.lib import clock, crypto
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.actions import (
    SANCTION_NOTICE,
    check_end_date,
    clean_moderation_reason,
    cut_off_banned,
    lock_members,
    record_ban_consequences,
    sanctioned_status,
)
from inviteonly.moderation.models import Sanction, SanctionKind
from inviteonly.notifications.models import Notification, NotificationKind


class BranchAction(models.TextChoices):
    QUARANTINE = "quarantine", _("Quarantine the branch")
    LIFT_QUARANTINE = "lift_quarantine", _("Lift the quarantine")
    BAN = "ban", _("Ban the branch")
    SUSPEND_INVITES = "suspend_invites", _("Suspend the branch's invite rights")


@dataclass(frozen=True)
class _Transition:
    from_statuses: tuple[str, ...]
    audit_action: AuditAction
    # The sanction each target gets; None: lifting the quarantine ends sanctions.
    sanction_kind: SanctionKind | None


_TRANSITIONS = {
    BranchAction.QUARANTINE: _Transition(
        (Member.Status.ACTIVE,), AuditAction.BRANCH_QUARANTINED, SanctionKind.QUARANTINE
    ),
    BranchAction.LIFT_QUARANTINE: _Transition(
        (Member.Status.QUARANTINED,), AuditAction.BRANCH_QUARANTINE_LIFTED, None
    ),
    BranchAction.BAN: _Transition(
        (Member.Status.ACTIVE, Member.Status.QUARANTINED),
        AuditAction.BRANCH_BANNED,
        SanctionKind.BAN,
    ),
    BranchAction.SUSPEND_INVITES: _Transition(
        (Member.Status.ACTIVE,),
        AuditAction.INVITE_RIGHTS_SUSPENDED,
        SanctionKind.INVITE_SUSPENSION,
    ),
}


def _invite_suspensions(now: datetime) -> QuerySet[Sanction]:
    """The outer member's suspensions of invite rights in force at ``now`` (index
    sanction_member_recent)."""
    return Sanction.objects.in_force_at(now).filter(
        member_id=OuterRef("id"), kind=SanctionKind.INVITE_SUSPENSION
    )


def _longest_suspension(now: datetime) -> Subquery:
    """The id of the outer member's suspension in force that ends last (one without
    end first): what decides whether a new suspension changes anything."""
    return Subquery(
        _invite_suspensions(now)
        .order_by(F("ends_at").desc(nulls_first=True), "-id")
        .values("id")[:1]
    )


def _suspended_as_long(now: datetime, ends_at: datetime | None) -> Exists:
    """The outer member's invite rights are suspended at ``now`` at least until
    ``ends_at`` (None: for good), so a new suspension until then would change nothing."""
    lasting = Q(ends_at__isnull=True)
    if ends_at is not None:
        lasting |= Q(ends_at__gte=ends_at)
    return Exists(_invite_suspensions(now).filter(lasting))


@dataclass(frozen=True)
class BranchPreview:
    """What applying ``action`` to the branch under ``root`` would do."""

    root: Member
    action: BranchAction
    counts: BranchCounts  # the whole branch as it is
    affected: int  # members the action would change
    digest: str  # pass it back to apply; it refuses if the branch changed meanwhile
    highest_id: int


def _branch_state(
    root: Member, action: BranchAction, *, now: datetime, ends_at: datetime | None, lock: bool
) -> BranchPreview:
    """One query over the branch (index member_tree_path_status). The digest does not
    depend on ``ends_at``: the moderator may pick the end date after the preview."""
    transition = _TRANSITIONS[action]
    branch = branch_of(root).order_by("id")
    if action == BranchAction.SUSPEND_INVITES:
        # Each member's longest suspension is part of the digest: one that lapses, is
        # lifted or is imposed after the preview changes the targets.
        branch = branch.annotate(
            longest_suspension=_longest_suspension(now),
            covered=_suspended_as_long(now, ends_at),
        )
    else:
        branch = branch.annotate(
            longest_suspension=models.Value(None, output_field=models.BigIntegerField()),
            covered=models.Value(False),
        )
    query = branch.values_list("id", "status", "role", "longest_suspension", "covered")
    if lock:
        query = query.select_for_update(no_key=True)  # as moderation.actions.lock_members
    hasher = hashlib.sha256(f"{action}:{root.pk}".encode())
    statuses: list[tuple[str, int]] = []
    affected = highest_id = 0
    for member_id, status, role, longest_suspension, covered in query:
        hasher.update(f";{member_id}:{status}:{role}:{longest_suspension or 0}".encode())
        statuses.append((status, 1))
        highest_id = member_id
        if role == Member.Role.MEMBER and status in transition.from_statuses and not covered:
            affected += 1
    return BranchPreview(
        root=root,
        action=action,
        counts=BranchCounts.of(statuses),
        affected=affected,
        digest=hasher.hexdigest(),
        highest_id=highest_id,
    )


def preview_branch_action(
    *, moderator: Member, root: Member, action: BranchAction, ends_at: datetime | None = None
) -> BranchPreview:
    """``ends_at``: the end date of a suspension of invite rights, if the moderator
    chose one already (the count then leaves out every member suspended for longer)."""
    check_can_moderate_tree(moderator)
    now = clock.now()
    _check_ends_at(action, ends_at, now=now)
    return _branch_state(root, action, now=now, ends_at=ends_at, lock=False)


def _check_ends_at(action: BranchAction, ends_at: datetime | None, *, now: datetime) -> None:
    """Only a suspension of invite rights may end, and then within the allowed range."""
    if action == BranchAction.SUSPEND_INVITES:
        check_end_date(ends_at, now=now)
    elif ends_at is not None:
        raise ActionError(
            "ends_at_not_applicable",
            _("Only a suspension of invite rights can have an end date."),
            field="ends_at",
        )


def _branch_changed() -> ActionError:
    return ActionError(
        "branch_changed",
        _("The branch changed after the preview (someone joined or a status changed). "
          "Look at the new preview and confirm again."),
        status=409,
    )


def _insert_per_target(
    targets: QuerySet[Member],
    model: type[models.Model],
    *,
    target_field: str,
    values: dict[str, Any],
) -> int:
    """One row of ``model`` per target (``target_field`` = the target, the other fields
    = ``values``), written by one INSERT … SELECT: a branch of 100,000 members would
    take many seconds as model instances (benchmarks/invitation_tree)."""
    select_sql, select_params = targets.order_by().values_list("id").query.sql_with_params()
    quote = connection.ops.quote_name
    columns, placeholders, params = [], [], []
    for name, value in values.items():
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field)
        columns.append(quote(field.column))
        if isinstance(field, models.JSONField):
            placeholders.append("CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s")
            params.append(json.dumps(value))
        else:
            placeholders.append("%s")
            params.append(field.get_db_prep_save(value, connection))
    target_column = model._meta.get_field(target_field)
    assert isinstance(target_column, models.Field)
    columns.append(quote(target_column.column))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(placeholders)}, target.id FROM ({select_sql}) AS target",
            [*params, *select_params],
        )
        return int(cursor.rowcount)


def _audit_each(
    targets: QuerySet[Member],
    *,
    action: AuditAction,
    actor: Member,
    details: dict[str, Any],
    at: datetime,
    ip_address: str | None,
) -> int:
    """An audit entry per target, by one INSERT … SELECT."""
    unknown = set(details) - ALLOWED_DETAIL_KEYS
    if unknown:
        raise ValueError(f"audit details may not carry {sorted(unknown)}")
    return _insert_per_target(
        targets,
        AuditEntry,
        target_field="target_member",
        values={"created_at": at, "action": str(action), "actor": actor.pk,
                "ip_address": ip_address, "details": details},
    )


def _notify_each(
    targets: QuerySet[Member],
    kind: NotificationKind,
    *,
    reason: str,
    until: datetime | None,
    at: datetime,
) -> int:
    """The notice a decision about one member gives, to each target, by one
    INSERT … SELECT."""
    return _insert_per_target(
        targets,
        Notification,
        target_field="member",
        values={
            "kind": kind.value,
            "subject": None,
            "reason": reason,
            "until": until,
            "created_at": at,
            "read_at": None,
        },
    )


def _sanction_each(
    targets: QuerySet[Member],
    *,
    kind: SanctionKind,
    moderator: Member,
    reason: str,
    ends_at: datetime | None,
    at: datetime,
) -> int:
    """A Sanction per target, as ``moderation.actions._impose`` creates for one member,
    by one INSERT … SELECT."""
    return _insert_per_target(
        targets,
        Sanction,
        target_field="member",
        values={
            "kind": kind.value,
            "reason": reason,
            "for_spam": False,
            "moderator": moderator.pk,
            "created_at": at,
            "ends_at": ends_at,
            "upheld": True,
            "ended_at": None,
            "ended_by": None,
            "end_reason": "",
        },
    )


@transaction.atomic
def do_apply_branch_action(
    *,
    moderator: Member,
    root: Member,
    action: BranchAction,
    digest: str,
    reason: str,
    ends_at: datetime | None = None,
    ip_address: str | None = None,
) -> BranchPreview:
    """Apply ``action`` exactly as previewed (same ``digest``), or refuse with nothing
    written. Returns what was applied. ``ends_at`` is the optional end of a suspension
    of invite rights (the other actions last until a moderator undoes them)."""
    check_can_moderate_tree(moderator)
    reason = clean_moderation_reason(reason)
    now = clock.now()
    _check_ends_at(action, ends_at, now=now)
    if action == BranchAction.BAN and root.invited_by_id is not None:
        # The root's inviter, who may get a strike, before the branch: the lock order
        # (moderation.actions), members by id.
        lock_members(root.invited_by_id)
    # The rows stay locked until commit (PostgreSQL; SQLite's write transaction
    # excludes other writers), so the writes below meet the branch digested here. In id
    # order: the lock order (moderation.actions).
    current = _branch_state(root, action, now=now, ends_at=ends_at, lock=True)
    if not crypto.digests_equal(current.digest, digest or ""):
        raise _branch_changed()
    transition = _TRANSITIONS[action]
    targets = branch_of(root).filter(
        id__lte=current.highest_id,
        role=Member.Role.MEMBER,
        status__in=transition.from_statuses,
    )
    details: dict[str, Any] = {"reason": reason, "branch_root": root.pk}
    if action == BranchAction.SUSPEND_INVITES:
        targets = targets.filter(~_suspended_as_long(now, ends_at))
        details |= {
            "kind": SanctionKind.INVITE_SUSPENSION.value,
            "ends_at": ends_at.isoformat() if ends_at else None,
        }
    # Audit and notices first: after the sanctions (or the status UPDATE) the targets
    # no longer stand out.
    written = [
        _audit_each(
            targets, action=transition.audit_action, actor=moderator, details=details, at=now,
            ip_address=ip_address,
        )
    ]
    kind = transition.sanction_kind
    notice = SANCTION_NOTICE.get(kind) if kind else NotificationKind.SANCTION_LIFTED
    if notice is not None:  # a banned member cannot log in to read one
        written.append(_notify_each(targets, notice, reason=reason, until=ends_at, at=now))
    if kind is not None:
        written.append(
            _sanction_each(
                targets, kind=kind, moderator=moderator, reason=reason, ends_at=ends_at, at=now
            )
        )
    else:
        Sanction.objects.in_force_at(now).filter(
            kind=SanctionKind.QUARANTINE, member_id__in=targets.values("id")
        ).update(ended_at=now, ended_by=moderator, upheld=False, end_reason=reason)
    if action != BranchAction.SUSPEND_INVITES:
        written.append(targets.update(status=sanctioned_status(now=now)))
    if any(count != current.affected for count in written):
        raise _branch_changed()
    if action == BranchAction.BAN:
        # As for a ban of one member: logged out, pending invitations revoked (and
        # audited for each member).
        cut_off_banned(
            branch_of(root).filter(id__lte=current.highest_id, status=Member.Status.BANNED),
            actor=moderator,
            now=now,
            ip_address=ip_address,
        )
        # The branch was let in through its root: whoever invited the root answers for
        # it as for any invitee banned for spam (a strike, a notice with the reason),
        # if the moderator may act on them.
        if root.role == Member.Role.MEMBER and root.invited_by_id is not None:
            record_ban_consequences(banned=root, reason=reason, for_spam=True, actor=moderator,
                                    ip_address=ip_address)
    record_audit_entry(
        AuditAction.BRANCH_ACTION_APPLIED,
        actor=moderator,
        target_member=root,
        ip_address=ip_address,
        reason=reason,
        branch_action=str(action),
        count=current.affected,
    )
    return current
