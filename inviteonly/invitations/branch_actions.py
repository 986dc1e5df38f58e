"""A moderator acts on a whole branch of the invitation tree: quarantine, lift the
quarantine, ban — always after a preview.

``preview_branch_action`` counts the branch and returns a digest of every member's id
and status in it. ``do_apply_branch_action`` recomputes that digest with the branch
rows locked and refuses when it differs, so what it applies is exactly what the
moderator saw; then one set-based UPDATE changes the statuses and one INSERT … SELECT
writes an audit entry per affected member (100,000 members take seconds, see
benchmarks/invitation_tree.py).

Founders and moderators inside a branch keep their status: a branch action is for
members. Members who join under the branch after the preview are not touched (the
UPDATE stops at the highest id the preview saw).

Suspending invite rights branch-wide needs the suspension record of the rights engine
(invitations/rights.py, issue 4 part A); it plugs in as one more ``BranchAction``
whose apply step hands that engine's bulk suspension the ``targets`` query — until then
the three status actions are all there is.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, models, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.models import Member
from inviteonly.audit_log.actions import ALLOWED_DETAIL_KEYS, record_audit_entry
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.tree import BranchCounts, branch_of, check_can_moderate_tree
from inviteonly.lib import clock, crypto
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.actions import clean_moderation_reason, record_ban_consequences


class BranchAction(models.TextChoices):
    QUARANTINE = "quarantine", _("Quarantine the branch")
    LIFT_QUARANTINE = "lift_quarantine", _("Lift the quarantine")
    BAN = "ban", _("Ban the branch")


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
}


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
    query = branch_of(root).order_by("id").values_list("id", "status", "role")
    if lock:
        query = query.select_for_update()
    hasher = hashlib.sha256(f"{action}:{root.pk}".encode())
    statuses: list[tuple[str, int]] = []
    affected = highest_id = 0
    for member_id, status, role in query:
        hasher.update(f";{member_id}:{status}:{role}".encode())
        statuses.append((status, 1))
        highest_id = member_id
        if role == Member.Role.MEMBER and status in transition.from_statuses:
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


def _audit_each(
    targets: QuerySet[Member],
    *,
    action: AuditAction,
    actor: Member,
    details: dict[str, Any],
    at: datetime,
) -> int:
    """An audit entry per target, written by one INSERT … SELECT: a branch of 100,000
    members would take many seconds as model instances (benchmarks/invitation_tree)."""
    unknown = set(details) - ALLOWED_DETAIL_KEYS
    if unknown:
        raise ValueError(f"audit details may not carry {sorted(unknown)}")
    select_sql, select_params = targets.order_by().values_list("id").query.sql_with_params()
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    details_sql = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (created_at, action, actor_id, target_member_id, details) "  # noqa: S608
            f"SELECT %s, %s, %s, target.id, {details_sql} FROM ({select_sql}) AS target",
            [
                connection.ops.adapt_datetimefield_value(at),
                str(action),
                actor.pk,
                json.dumps(details),
                *select_params,
            ],
        )
        return int(cursor.rowcount)


@transaction.atomic
def do_apply_branch_action(
    *, moderator: Member, root: Member, action: BranchAction, digest: str, reason: str
) -> BranchPreview:
    """Apply ``action`` exactly as previewed (same ``digest``), or refuse with nothing
    written. Returns what was applied."""
    check_can_moderate_tree(moderator)
    reason = clean_moderation_reason(reason)
    # The rows stay locked until commit (PostgreSQL; SQLite's write transaction
    # excludes other writers), so the UPDATE below meets the statuses digested here.
    current = _branch_state(root, action, lock=True)
    if not crypto.digests_equal(current.digest, digest or ""):
        raise _branch_changed()
    transition = _TRANSITIONS[action]
    now = clock.now()
    targets = branch_of(root).filter(
        id__lte=current.highest_id,
        role=Member.Role.MEMBER,
        status__in=transition.from_statuses,
    )
    # Audit first: after the UPDATE the old statuses no longer single the targets out.
    audited = _audit_each(
        targets,
        action=transition.audit_action,
        actor=moderator,
        details={"reason": reason, "branch_root": root.pk},
        at=now,
    )
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
