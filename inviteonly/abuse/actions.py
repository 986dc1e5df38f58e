"""Enforcing the rate limits from actions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inviteonly.abuse.limiter import (
    Count,
    DatabaseStore,
    KeyKind,
    Refusal,
    Rule,
    Subject,
    count_hits,
    count_rules,
    counting_transaction,
    get_store,
    hit_rules,
    refused_outright,
    rules_for,
)
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


def _ordered_rules(actions: Sequence[str]) -> list[Rule]:
    return sorted(
        (rule for action in actions for rule in rules_for(action)),
        key=lambda rule: KEY_ORDER.index(rule.key),
    )


def record_rate_limited(refusal: Refusal, *, ip_address: str | None) -> None:
    """The audit entry naming the rule over its limit, in the caller's transaction."""
    record_audit_entry(AuditAction.RATE_LIMITED, ip_address=ip_address, reason=refusal.rule.name)


def _rate_limited(refusal: Refusal, subject: Subject) -> ActionError:
    """Audit the refusal (in the caller's transaction) and say how long to wait."""
    record_rate_limited(refusal, ip_address=subject.ip)
    return ActionError(
        "rate_limited",
        _("Too many attempts. Try again in %(wait)s.")
        % {"wait": describe_wait(refusal.retry_after_seconds)},
        status=429,
        retry_after=refusal.retry_after_seconds,
    )


def enforce_rate_limit(actions: Sequence[str], subject: Subject) -> None:
    """Count one hit of each action; refuse with 429 at the first rule over its limit
    (rules after it are then not counted).

    Call it outside the action's transaction: the count and the audit entry of a
    refusal must stay even though the action does not go ahead. The counters are
    counted together (``counting_transaction``); the rules are ordered by key, every
    per-address rule before any per-number one. ``rate_limited_transaction`` does the
    same in the action's own transaction; ``sms_budget`` does it in the same count as
    the SMS budget.
    """
    # A request whose first rule is already full has nothing to count: a flood from
    # one address then costs one write per request, its audit entry.
    refused = refused_outright_error(actions, subject)
    if refused is None:
        with counting_transaction():
            refused, _counts = count_rate_limits(actions, subject)
    if refused is not None:
        raise refused


def refused_outright_error(actions: Sequence[str], subject: Subject) -> ActionError | None:
    """The (audited) refusal of a request whose first rule this process saw full in the
    current window, without counting anything; ``None`` if it has to be counted."""
    refusal = refused_outright(_ordered_rules(actions), subject)
    return None if refusal is None else _rate_limited(refusal, subject)


def count_rate_limits(
    actions: Sequence[str],
    subject: Subject,
    *,
    then: Sequence[Count] = (),
    reading: Sequence[str] = (),
) -> tuple[ActionError | None, dict[str, int]]:
    """``enforce_rate_limit``'s counting, in the caller's ``counting_transaction``: the
    refusal to raise once it has committed (its audit entry is written in it), or
    ``None``; then, if none, the ``then`` counters, read with the ``reading`` ones in
    the same call to the store (``count_rules``): their counts."""
    counted = count_rules(
        _ordered_rules(actions), subject, store=get_store(), then=then, reading=reading
    )
    if counted.refusal is not None:
        return _rate_limited(counted.refusal, subject), {}
    return None, counted.counts


@contextmanager
def rate_limited_transaction(
    actions: Sequence[str], subject: Subject, *, capped: Sequence[str] = ()
) -> Iterator[Refusal | None]:
    """``enforce_rate_limit``, then the action it guards, in one transaction: one
    commit instead of two (each an fsync on PostgreSQL).

    The hits are counted first. A refusal commits them with its audit entry, and the
    body does not run. If the body raises, its writes roll back together with the hits,
    which are then counted again in a transaction of their own: a failed attempt counts
    exactly as it would under ``enforce_rate_limit``. The counter rows stay locked
    until the action commits, so keep global (site-wide) rules out of such actions.

    The rules of the ``capped`` actions never refuse. They are counted after the
    others (in the same statement, in the database), and only for an action that goes
    through: their hits always stay in the action's transaction (in the database even
    where the other counters are in Redis) and are not counted again when it fails.
    The block receives the refusal their first rule over its limit would have made
    (``None`` while none is), to do its work unseen and audit it with its own writes
    (``record_rate_limited``).
    """
    rules = _ordered_rules(actions)
    capped_rules = _ordered_rules(capped)
    store = get_store()
    error = None
    body_failed = False
    try:
        with transaction.atomic():
            if store.transactional:
                refusal = hit_rules([*rules, *capped_rules], subject, store=store)
            else:
                refusal = hit_rules(rules, subject, store=store) or hit_rules(
                    capped_rules, subject, store=DatabaseStore()
                )
            if refusal is not None and refusal.rule not in capped_rules:
                error = _rate_limited(refusal, subject)
            else:
                try:
                    yield refusal
                except BaseException:
                    body_failed = True
                    raise
    except Exception:
        if body_failed and store.transactional:
            with transaction.atomic():
                count_hits(rules, subject, store=store)
        raise
    if error is not None:
        raise error
