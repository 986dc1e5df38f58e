"""Writing audit entries. Called inside the transaction of the action being audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.models import Invitation
from inviteonly.lib.queries import insert, insert_all

# Detail keys an audit entry may carry. A closed list, so that nobody passes a code,
# a token or a full number by accident.
ALLOWED_DETAIL_KEYS = frozenset(
    {"phone_masked", "mode", "previous_mode", "reason", "purpose", "region", "attempt",
     "sanction", "kind", "for_spam", "ends_at", "upheld", "strikes", "revoked_invitations",
     "refunded", "grant", "branch_root", "branch_action", "count", "target", "resolution"}
)


# Entries recorded inside ``audit_entries_written_together``, not yet written.
_pending: ContextVar[list[AuditEntry] | None] = ContextVar("pending_audit_entries", default=None)


@contextmanager
def audit_entries_written_together() -> Iterator[None]:
    """Write the audit entries recorded in the block with one INSERT as it ends (an
    action that records several saves a statement per entry). Use it inside the
    action's transaction; if the block raises, none of them is written."""
    pending: list[AuditEntry] = []
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
    if pending:
        insert_all(pending)


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
    pending = _pending.get()
    if pending is None:
        insert(entry)
    else:
        pending.append(entry)
    return entry
