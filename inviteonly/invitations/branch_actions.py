"""A moderator acts on a whole branch of the invitation tree: quarantine, lift the
quarantine, ban, suspend invite rights — always after a preview.

``preview_branch_action`` counts the branch and returns a digest of every member's id
and status in it. ``do_apply_branch_action`` recomputes that digest with the branch
rows locked and refuses when it differs, so what it applies is exactly what the
moderator saw; then one set-based UPDATE changes the statuses and one INSERT … SELECT
writes an audit entry per affected member (100,000 members take seconds, see
benchmarks/invitation_tree.py).

Founders and moderators inside a branch keep their status: a branch action is for
members. Members who join under the branch after the preview are not touched (the
UPDATE stops at the highest id the preview saw).

Suspending invite rights changes no status: it writes one ``Sanction`` of kind
invite_suspension per active member of the branch whose rights are not suspended
already, with an optional end date, and tells each of them — one INSERT … SELECT
each for the sanctions, the notices and the audit entries. The rights engine
(invitations/rights.py) reads those sanctions, so each lapses at its end date exactly
like a suspension of one member (moderation/actions.py ``do_suspend_invite_rights``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.models import Member
from inviteonly.audit_log.actions import ALLOWED_DETAIL_KEYS, record_audit_entry
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.tree import BranchCounts, branch_of, check_can_moderate_tree
from inviteonly.lib import clock, crypto
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.actions import (
    check_end_date,
    clean_moderation_reason,
    record_ban_consequences,
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
    to_status: str
    audit_action: AuditAction


_TRANSITIONS = {
    BranchAction.QUARANTINE: _Transition(
        (Member.Status.ACTIVE,), Member.Status.QUARANTINED, AuditAction.BRANCH_QUARANTINED
    ),
    BranchAction.LIFT_QUARANTINE: _Transition(
        (Member.Status.QUARANTINED,), Member.Status.ACTIVE, AuditAction.BRANCH_QUARANTINE_LIFTED
    ),
    BranchAction.BAN: _Transition(
        (Member.Status.ACTIVE, Member.Status.QUARANTINED),
        Member.Status.BANNED,
        AuditAction.BRANCH_BANNED,
    ),
    # No status changes: a sanction per target (see do_apply_branch_action).
    BranchAction.SUSPEND_INVITES: _Transition(
        (Member.Status.ACTIVE,), Member.Status.ACTIVE, AuditAction.INVITE_RIGHTS_SUSPENDED
    ),
}


def _invites_suspended(now: datetime) -> Exists:
    """The outer member's invite rights are suspended at ``now`` (index
    sanction_member_recent)."""
    return Exists(
        Sanction.objects.in_force_at(now).filter(
            member_id=OuterRef("id"), kind=SanctionKind.INVITE_SUSPENSION
        )
    )


@dataclass(frozen=True)
class BranchPreview:
    """What applying ``action`` to the branch under ``root`` would do."""

    root: Member
    action: BranchAction
    counts: BranchCounts  # the whole branch as it is
    affected: int  # members whose status would change
    digest: str  # pass it back to apply; it refuses if the branch changed meanwhile
    highest_id: int


def _branch_state(root: Member, action: BranchAction, *, lock: bool) -> BranchPreview:
    """One query over the branch (index member_tree_path_status)."""
    transition = _TRANSITIONS[action]
    branch = branch_of(root).order_by("id")
    if action == BranchAction.SUSPEND_INVITES:
        # Whether each member's rights are suspended already is part of the digest: a
        # suspension that lapses or is lifted after the preview changes the targets.
        branch = branch.annotate(suspended=_invites_suspended(clock.now()))
    else:
        branch = branch.annotate(suspended=models.Value(False))
    query = branch.values_list("id", "status", "role", "suspended")
    if lock:
        query = query.select_for_update()
    hasher = hashlib.sha256(f"{action}:{root.pk}".encode())
    statuses: list[tuple[str, int]] = []
    affected = highest_id = 0
    for member_id, status, role, suspended in query:
        hasher.update(f";{member_id}:{status}:{role}:{int(bool(suspended))}".encode())
        statuses.append((status, 1))
        highest_id = member_id
        if role == Member.Role.MEMBER and status in transition.from_statuses and not suspended:
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
    *, moderator: Member, root: Member, action: BranchAction
) -> BranchPreview:
    check_can_moderate_tree(moderator)
    return _branch_state(root, action, lock=False)


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
) -> int:
    """An audit entry per target, by one INSERT … SELECT."""
    unknown = set(details) - ALLOWED_DETAIL_KEYS
    if unknown:
        raise ValueError(f"audit details may not carry {sorted(unknown)}")
    return _insert_per_target(
        targets,
        AuditEntry,
        target_field="target_member",
        values={"created_at": at, "action": str(action), "actor": actor.pk, "details": details},
    )


def _suspend_each(
    targets: QuerySet[Member],
    *,
    moderator: Member,
    reason: str,
    ends_at: datetime | None,
    at: datetime,
) -> int:
    """A Sanction(invite_suspension) per target, as ``do_suspend_invite_rights`` imposes
    on one member, by one INSERT … SELECT."""
    return _insert_per_target(
        targets,
        Sanction,
        target_field="member",
        values={
            "kind": SanctionKind.INVITE_SUSPENSION.value,
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
) -> BranchPreview:
    """Apply ``action`` exactly as previewed (same ``digest``), or refuse with nothing
    written. Returns what was applied. ``ends_at`` is the optional end of a suspension
    of invite rights (the other actions last until a moderator undoes them)."""
    check_can_moderate_tree(moderator)
    reason = clean_moderation_reason(reason)
    now = clock.now()
    if action == BranchAction.SUSPEND_INVITES:
        check_end_date(ends_at, now=now)
    elif ends_at is not None:
        raise ActionError(
            "ends_at_not_applicable",
            _("Only a suspension of invite rights can have an end date."),
            field="ends_at",
        )
    # The rows stay locked until commit (PostgreSQL; SQLite's write transaction
    # excludes other writers), so the UPDATE below meets the statuses digested here.
    current = _branch_state(root, action, lock=True)
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
        targets = targets.filter(~_invites_suspended(now))
        details |= {
            "kind": SanctionKind.INVITE_SUSPENSION.value,
            "ends_at": ends_at.isoformat() if ends_at else None,
        }
    # Audit first: after the UPDATE (or the suspensions) the targets no longer stand out.
    audited = _audit_each(
        targets, action=transition.audit_action, actor=moderator, details=details, at=now
    )
    if action == BranchAction.SUSPEND_INVITES:
        # Each member is told, with the reason and the end, as for one suspension.
        _insert_per_target(
            targets,
            Notification,
            target_field="member",
            values={
                "kind": NotificationKind.INVITE_RIGHTS_SUSPENDED.value,
                "subject": None,
                "reason": reason,
                "until": ends_at,
                "created_at": now,
                "read_at": None,
            },
        )
        changed = _suspend_each(
            targets, moderator=moderator, reason=reason, ends_at=ends_at, at=now
        )
    else:
        changed = targets.update(status=transition.to_status)
    if not audited == changed == current.affected:
        raise _branch_changed()
    if transition.to_status == Member.Status.BANNED:
        # A banned member's pending invitations die with the account.
        Invitation.objects.filter(
            inviter_id__in=branch_of(root).filter(
                id__lte=current.highest_id, status=Member.Status.BANNED
            ).values("id"),
            redeemed_at__isnull=True,
            revoked_at__isnull=True,
        ).update(revoked_at=now)
        # The branch was let in through its root: whoever invited the root answers for
        # it as for any invitee banned for spam (a strike, a notice with the reason).
        if root.role == Member.Role.MEMBER and root.invited_by_id is not None:
            record_ban_consequences(banned=root, reason=reason, for_spam=True, actor=moderator)
    record_audit_entry(
        AuditAction.BRANCH_ACTION_APPLIED,
        actor=moderator,
        target_member=root,
        reason=reason,
        branch_action=str(action),
        count=changed,
    )
    return current
