"""Writing audit entries. Called inside the transaction of the action being audited."""

from __future__ import annotations

from typing import Any

from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.models import Invitation
from inviteonly.lib.queries import insert_later

# Detail keys an audit entry may carry. A closed list, so that nobody passes a code,
# a token or a full number by accident.
ALLOWED_DETAIL_KEYS = frozenset(
    {"phone_masked", "mode", "previous_mode", "reason", "purpose", "region", "attempt",
     "sanction", "kind", "for_spam", "ends_at", "upheld", "strikes", "revoked_invitations",
     "refunded", "grant", "branch_root", "branch_action", "count", "target", "resolution",
     "role", "previous_role", "status", "previous_status", "previous_phone_masked"}
)


def record_audit_entry(
    action: AuditAction,
    *,
    actor: Member | None = None,
    target_member: Member | None = None,
    invitation: Invitation | None = None,
    ip_address: str | None = None,
    **details: Any,
) -> AuditEntry:
    unknown = set(details) - ALLOWED_DETAIL_KEYS
    if unknown:
        raise ValueError(f"audit details may not carry {sorted(unknown)}")
    entry = AuditEntry(
        action=action,
        actor=actor,
        target_member=target_member,
        invitation=invitation,
        ip_address=ip_address,
        details=details,
    )
    # Inside an action's lib.queries.written_together: with the action's other rows.
    return insert_later(entry)
