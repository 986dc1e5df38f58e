"""Enforcing the rate limits from actions."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inviteonly.abuse.limiter import Subject, hit
from inviteonly.audit_log.actions import record_audit_entry
from inviteonly.audit_log.models import AuditAction
from inviteonly.lib.errors import ActionError


def describe_wait(seconds: int) -> str:
    """"45 seconds", "3 minutes", "2 hours", in the active language (rounded up)."""
    if seconds < 60:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    minutes = -(-seconds // 60)
    if minutes < 60:
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    hours = -(-minutes // 60)
    return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}


def enforce_rate_limit(*checks: tuple[str, Subject]) -> None:
    """Count each ``(action, subject)`` in turn; refuse with 429 at the first rule over
    its limit (later checks are then not counted).

    Call it outside the action's transaction: the count and the audit entry of a
    refusal must stay even though the action does not go ahead. The counters of one
    call share one transaction of their own (one commit, not one per rule).
    """
    refusal = None
    with transaction.atomic():
        for action, subject in checks:
            refusal = hit(action, subject)
            if refusal is not None:
                break
    if refusal is None:
        return
    record_audit_entry(
        AuditAction.RATE_LIMITED,
        ip_address=checks[0][1].ip,
        reason=refusal.rule.name,
    )
    raise ActionError(
        "rate_limited",
        _("Too many attempts. Try again in %(wait)s.")
        % {"wait": describe_wait(refusal.retry_after_seconds)},
        status=429,
        retry_after=refusal.retry_after_seconds,
    )
