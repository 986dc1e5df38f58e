"""Enforcing the rate limits from actions."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inviteonly.abuse.limiter import KeyKind, Subject, get_store, hit_rules, rules_for
from inviteonly.audit_log.actions import record_audit_entry
from inviteonly.audit_log.models import AuditAction
from inviteonly.lib.errors import ActionError

# Cheap, wide keys first: an address that is refused does not count against a number.
KEY_ORDER = [KeyKind.GLOBAL, KeyKind.IP, KeyKind.MEMBER, KeyKind.COUNTRY,
             KeyKind.NUMBER_PREFIX, KeyKind.NUMBER]


def describe_wait(seconds: int) -> str:
    """"45 seconds", "3 minutes", "2 hours", in the active language (rounded up)."""
    if seconds < 60:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    minutes = -(-seconds // 60)
    if minutes < 60:
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    hours = -(-minutes // 60)
    return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}


def enforce_rate_limit(actions: Sequence[str], subject: Subject) -> None:
    """Count one hit of each action; refuse with 429 at the first rule over its limit
    (rules after it are then not counted).

    Call it outside the action's transaction: the count and the audit entry of a
    refusal must stay even though the action does not go ahead. The counters share one
    transaction of their own; the rules are ordered by key, every per-address rule
    before any per-number one.
    """
    rules = sorted(
        (rule for action in actions for rule in rules_for(action)),
        key=lambda rule: KEY_ORDER.index(rule.key),
    )
    with transaction.atomic():
        refusal = hit_rules(rules, subject, store=get_store())
    if refusal is None:
        return
    record_audit_entry(AuditAction.RATE_LIMITED, ip_address=subject.ip, reason=refusal.rule.name)
    raise ActionError(
        "rate_limited",
        _("Too many attempts. Try again in %(wait)s.")
        % {"wait": describe_wait(refusal.retry_after_seconds)},
        status=429,
        retry_after=refusal.retry_after_seconds,
    )
