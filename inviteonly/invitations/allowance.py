"""The invitation allowance: earned over time, spent by sending, given back when an
unredeemed invitation expires — one its inviter revoked included, at the moment it
would have expired (so inviting and revoking again and again costs the allowance, and
SMS to one number cannot loop on a single invitation).

A member's allowance is one timestamp, ``InviteAllowance.earned_from``: one
invitation is earned per INVITE_ALLOWANCE_PERIOD_DAYS elapsed since it, at most
INVITE_ALLOWANCE_MAX_UNUSED. Spending is one conditional UPDATE that moves the
timestamp a period later only if a whole period has been earned, so twenty concurrent
sends against an allowance of three spend exactly three, on SQLite and PostgreSQL
alike, without reading the balance first. A refund moves it a period earlier.

Expired invitations are refunded lazily: each send first settles the sender's expired
unredeemed invitations (and ``inviteonly sweep`` settles everyone's), while reading
an allowance counts the unsettled ones as already given back, so the number a member
sees never depends on when the sweep last ran. An invitation revoked by a ban gives
nothing back — unless the ban is declared a mistake: then it gives back at once, as an
expired one (``give_back_revoked_by_ban``), and stays revoked. One granted on a
request whose SMS failed for good is revoked and gives back at once
(``give_back_undelivered``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.fields import DateTimeField

from inviteonly.accounts.models import Member
from inviteonly.invitations.models import Invitation, InviteAllowance
from inviteonly.lib.subqueries import SubqueryCount


@dataclass(frozen=True)
class AllowanceState:
    available: int
    maximum: int
    # When the next invitation is earned; None while the allowance is full.
    next_earned_at: datetime | None


def allowance_period() -> timedelta:
    return timedelta(days=settings.INVITE_ALLOWANCE_PERIOD_DAYS)


def _refunds_due(moment: datetime) -> QuerySet[Invitation]:
    """Invitations whose allowance is due back at ``moment`` and not yet given: spent,
    expired unredeemed, and not revoked — or revoked by their inviter."""
    return Invitation.objects.filter(
        Q(revoked_at__isnull=True) | Q(revoked_by_inviter=True),
        spent_allowance=True,
        allowance_refunded_at__isnull=True,
        redeemed_at__isnull=True,
        expires_at__lte=moment,
    )


def _unsettled_expired(member_id: int | OuterRef, moment: datetime) -> QuerySet[Invitation]:
    return _refunds_due(moment).filter(Q(inviter_id=member_id))


def allowance_inputs(moment: datetime) -> dict[str, Subquery]:
    """Annotations for a Member query that read what ``allowance_from`` needs, so the
    rights evaluation gets them in the query it makes anyway."""
    return {
        "allowance_earned_from": Subquery(
            InviteAllowance.objects.filter(member_id=OuterRef("id")).values("earned_from")[:1]
        ),
        "allowance_unsettled": SubqueryCount(
            _unsettled_expired(OuterRef("id"), moment).values("id")
        ),
    }


def allowance_from(
    member: Member, *, earned_from: datetime | None, unsettled: int, moment: datetime
) -> AllowanceState:
    period = allowance_period()
    maximum = settings.INVITE_ALLOWANCE_MAX_UNUSED
    effective_from = (earned_from or member.joined_at) - unsettled * period
    earned = max(0, (moment - effective_from) // period)
    if earned >= maximum:
        return AllowanceState(available=maximum, maximum=maximum, next_earned_at=None)
    return AllowanceState(
        available=earned,
        maximum=maximum,
        next_earned_at=effective_from + (earned + 1) * period,
    )


def allowance_of(member: Member, *, moment: datetime) -> AllowanceState:
    """What the member may spend at ``moment`` (one query)."""
    row = cast(
        dict[str, Any],
        Member.objects.filter(id=member.id).values(**allowance_inputs(moment)).get(),
    )
    return allowance_from(
        member,
        earned_from=row["allowance_earned_from"],
        unsettled=row["allowance_unsettled"],
        moment=moment,
    )


def settle_expired_refunds(member_id: int, *, now: datetime) -> int:
    """Give back the allowance of the member's expired unredeemed invitations; returns
    how many. Marking them refunded is a conditional UPDATE, so a concurrent sweep and
    send never refund one invitation twice."""
    return _settle(_unsettled_expired(member_id, now), member_id, now=now)


def give_back_revoked_by_ban(member_id: int, *, revoked_at: datetime, now: datetime) -> int:
    """A ban of the member was declared a mistake: the allowance the invitations it
    revoked (at ``revoked_at``, its start) spent comes back now, as if they had expired
    — they stay revoked, their links dead. Returns how many."""
    revoked = Invitation.objects.filter(
        inviter_id=member_id, revoked_at=revoked_at, revoked_by_inviter=False,
        spent_allowance=True, allowance_refunded_at__isnull=True, redeemed_at__isnull=True,
    )
    return _settle(revoked, member_id, now=now)


def give_back_undelivered(invitation: Invitation, *, now: datetime) -> int:
    """The invitation's SMS never reached its number, and the invitation is revoked
    for it (invitation_requests.actions.settle_undelivered_invitations): the allowance
    it spent comes back now, as if it had expired — nobody could use it, and sending it
    again to that number would fail again. Returns 1, or 0 if it spent none or was given
    back already (expired meanwhile)."""
    undelivered = Invitation.objects.filter(
        id=invitation.id, spent_allowance=True, allowance_refunded_at__isnull=True,
        redeemed_at__isnull=True,
    )
    assert invitation.inviter_id is not None  # a founder invitation sends no SMS
    return _settle(undelivered, invitation.inviter_id, now=now)


def _settle(invitations: QuerySet[Invitation], member_id: int, *, now: datetime) -> int:
    """Mark ``invitations`` refunded and give their allowance back to ``member_id``;
    the conditional UPDATE never refunds one invitation twice."""
    with transaction.atomic():
        refunded: int = invitations.update(allowance_refunded_at=now)
        if refunded:
            give_back_allowance(member_id, count=refunded)
    return refunded


def give_back_allowance(member_id: int, *, count: int = 1) -> None:
    """A refund: the member earned their allowance ``count`` periods earlier. (Above
    the maximum it is lost when read: at most INVITE_ALLOWANCE_MAX_UNUSED are kept.)"""
    InviteAllowance.objects.filter(member_id=member_id).update(
        earned_from=F("earned_from") - allowance_period() * count
    )


def spend_allowance(member: Member, *, now: datetime) -> bool:
    """Spend one invitation if one is earned; False if none is. Call inside the
    sending transaction, so that a failed send gives it back by rolling back."""
    settle_expired_refunds(member.id, now=now)
    InviteAllowance.objects.get_or_create(
        member_id=member.id, defaults={"earned_from": member.joined_at}
    )
    period = allowance_period()
    # Whatever was earned beyond the maximum is lost: spending starts from the oldest
    # moment that still counts.
    oldest_counted = now - settings.INVITE_ALLOWANCE_MAX_UNUSED * period
    spent = InviteAllowance.objects.filter(
        member_id=member.id, earned_from__lte=now - period
    ).update(
        earned_from=Case(
            When(earned_from__lt=oldest_counted, then=Value(oldest_counted + period)),
            default=F("earned_from") + period,
            output_field=DateTimeField(),
        )
    )
    return spent == 1


def sweep_expired_refunds(*, now: datetime) -> int:
    """Settle every member's expired unredeemed invitations (part of ``inviteonly
    sweep``); returns how many invitations were refunded."""
    inviter_ids = _refunds_due(now).values_list("inviter_id", flat=True).distinct()
    return sum(
        settle_expired_refunds(inviter_id, now=now)
        for inviter_id in list(inviter_ids)
        if inviter_id is not None
    )
