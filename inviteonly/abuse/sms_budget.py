"""What the site lets SMS cost: the defence against SMS pumping.

In SMS pumping an attacker who earns a share of what is paid for messages to certain
numbers (premium ranges, numbers at a colluding carrier) makes a site send codes to
them, and never types one. So before a code is queued, three budgets are taken, in
this order (the cheapest and most specific to one attacker first):

1. ``sms.ip_countries``: one address (an IPv6 /64) may ask for codes to numbers of at
   most ``SMS_MAX_COUNTRIES_PER_IP`` countries a day; real people seldom hold numbers
   in more.
2. ``sms.country_hourly`` and ``sms.country_daily``: codes to one country that were
   not verified (sent minus verified in the window) may not pass a cap scaled to the
   country's real traffic — Authgear's formula: daily ``max(20, 0.2 × the most codes
   verified there on one day of the last 14)``, hourly ``max(3, daily / 6)``.
3. ``sms.global_hourly``: a circuit breaker on every SMS of the site, invitations
   included. When it trips it logs at ERROR once per hour and the admin shows a banner
   until the hour ends.

A refused request gives its counts back, is audit-logged with the rule's name and is
answered with 429 and ``Retry-After`` (the breaker too: a 5xx would also write an
ERROR line per refused request, drowning the one alert). Registered and
unregistered numbers count alike (a suppressed SMS takes the same budget), so a refusal
says nothing about whether a number is a member's.

Counters live in the limiter's store (Redis or the database); windows are fixed and
aligned to the clock, like the rate limits'.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from inviteonly.abuse.actions import count_rate_limits, describe_wait, refused_outright_error
from inviteonly.abuse.limiter import (
    Count,
    CounterStore,
    Subject,
    Window,
    address_key,
    counting_transaction,
    get_store,
)
from inviteonly.audit_log.actions import record_audit_entry
from inviteonly.audit_log.models import AuditAction
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.lib.phone_numbers import PhoneNumber

logger = logging.getLogger(__name__)

HOUR = 3600
DAY = 86400


@dataclass(frozen=True)
class CountryCaps:
    """How many unverified codes a country may have outstanding in a day and an hour."""

    daily: int
    hourly: int

    @classmethod
    def from_verified(cls, busiest_verified_day: int) -> CountryCaps:
        daily = max(
            settings.SMS_UNVERIFIED_DAILY_MIN,
            int(settings.SMS_UNVERIFIED_DAILY_SHARE * busiest_verified_day),
        )
        hourly = max(settings.SMS_UNVERIFIED_HOURLY_MIN, daily // settings.SMS_HOURS_PER_DAILY_CAP)
        return cls(daily=daily, hourly=hourly)


def _sent(country: str, window: str, number: int) -> str:
    return f"sms:sent:{country}:{window}:{number}"


def _verified(country: str, window: str, number: int) -> str:
    return f"sms:verified:{country}:{window}:{number}"


def _alert(hour: Window) -> str:
    return f"sms:alert:{hour.number}"


def _country(region: str) -> str:
    # Non-geographic numbers have no region; they share one budget.
    return region or "ZZ"


@dataclass(frozen=True)
class _Refusal:
    rule: str
    window: Window


class _Budget:
    """The counts one SMS takes (taken with the request's rate limits, in one call to
    the store) and the rules that judge them."""

    def __init__(self, store: CounterStore, *, number: PhoneNumber, ip_address: str | None,
                 code: bool, now: datetime) -> None:
        self.store = store
        self.country = _country(number.region)
        self.address = address_key(ip_address) if code else None
        self.code = code
        self.hour = Window.at(now, seconds=HOUR)
        self.day = Window.at(now, seconds=DAY)
        self.taken: list[str] = []

    @cached_property
    def counts(self) -> list[Count]:
        """The counters one SMS adds to."""
        hour, day, country = self.hour, self.day, self.country
        counts = [Count(f"sms:all:{hour.number}", hour.ends)]
        if self.code:
            counts += [Count(_sent(country, "h", hour.number), hour.ends),
                       Count(_sent(country, "d", day.number), day.ends)]
        if self.address is not None:
            # The address's countries today: one more when this country is new to it.
            pair = self._pair()
            counts += [Count(pair, day.ends),
                       Count(self._countries(), day.ends, if_first_of=pair)]
        return counts

    def _pair(self) -> str:
        return f"sms:ip-country:{self.address}:{self.country}:{self.day.number}"

    def one_at_a_time(self) -> AbstractContextManager[object]:
        """Requests from this address to this country, counted and judged (and, if
        refused, given back) one at a time: see ``sms_budget``. An invitation counts in
        no country of an address."""
        if self.address is None or not self.code:
            return nullcontext()
        return self.store.one_at_a_time(self._pair())

    def _countries(self) -> str:
        return f"sms:ip-countries:{self.address}:{self.day.number}"

    def reading(self) -> list[str]:
        """What the counts are judged against: a code's country caps need its verified
        codes."""
        return self._verified() if self.code else []

    def judge(self, counts: dict[str, int]) -> _Refusal | None:
        """The refusal these new counts (and the counts read) call for, if any."""
        self.taken = [count.bucket for count in self.counts if count.bucket in counts]
        if self.address is not None:
            refusal = self._countries_of_address(counts)
            if refusal is not None:
                return refusal
        if self.code:
            refusal = self._country(counts)
            if refusal is not None:
                return refusal
        return self._breaker(counts[f"sms:all:{self.hour.number}"])

    def give_back(self, *, keep_countries: bool = False) -> None:
        """Undo the counts taken. ``keep_countries``: not the address's count of this
        country. Given back after the action failed, it would no longer be counted for
        the address if a request to the same country had counted meanwhile (that one
        found the country counted already and counted none), and no later request to
        it would count it either: the address would reach countries beyond the limit."""
        kept = {self._pair(), self._countries()} if keep_countries else set()
        self.store.take_back([bucket for bucket in self.taken if bucket not in kept])

    def _countries_of_address(self, counts: dict[str, int]) -> _Refusal | None:
        """``sms.ip_countries``: the first request of the day from this address to this
        country counted the country (``counts``: its counter has a count only then)."""
        countries = counts.get(self._countries())
        if countries is not None and countries > settings.SMS_MAX_COUNTRIES_PER_IP:
            return _Refusal("sms.ip_countries", self.day)
        return None

    def _verified(self) -> list[str]:
        """The country's verified codes: this hour, today, then each day looked back on."""
        hour, day, country = self.hour, self.day, self.country
        lookback = range(day.number - settings.SMS_VERIFIED_LOOKBACK_DAYS, day.number)
        return [_verified(country, "h", hour.number), _verified(country, "d", day.number)] + [
            _verified(country, "d", number) for number in lookback
        ]

    def _country(self, counts: dict[str, int]) -> _Refusal | None:
        hour, day, country = self.hour, self.day, self.country
        verified_this_hour, verified_today, *verified_before = (
            counts[bucket] for bucket in self._verified()
        )
        caps = CountryCaps.from_verified(max(verified_before, default=0))
        if counts[_sent(country, "h", hour.number)] - verified_this_hour > caps.hourly:
            return _Refusal("sms.country_hourly", hour)
        if counts[_sent(country, "d", day.number)] - verified_today > caps.daily:
            return _Refusal("sms.country_daily", day)
        return None

    def _breaker(self, sent: int) -> _Refusal | None:
        """``sms.global_hourly``: the site-wide circuit breaker, alerting once an hour."""
        hour = self.hour
        if sent <= settings.SMS_MAX_PER_HOUR:
            return None
        if self.store.increment(_alert(hour), expires_at=hour.ends) == 1:
            logger.error(
                "SMS circuit breaker tripped: more than %d SMS this hour; every further SMS "
                "is refused until %s UTC. Check the audit log (rate_limited, sms.*) for the "
                "requests, then raise SMS_MAX_PER_HOUR or wait.",
                settings.SMS_MAX_PER_HOUR,
                hour.ends.strftime("%H:%M"),
            )
        return _Refusal("sms.global_hourly", hour)


@contextmanager
def sms_budget(
    *,
    number: PhoneNumber,
    ip_address: str | None,
    code: bool,
    rate_limits: Sequence[str] = (),
    subject: Subject | None = None,
) -> Iterator[None]:
    """Take the budget of one SMS to ``number`` for the block, or refuse. ``code``: an
    SMS with a code (join, recovery), which every rule counts; an invitation passes
    only the breaker. ``rate_limits`` (actions, counted for ``subject``) are counted
    first, exactly as ``enforce_rate_limit`` counts them, in the same count (on
    PostgreSQL one statement): a request they refuse takes no budget.

    Use it outside the action's transaction, like ``enforce_rate_limit``: the counters
    must not stay locked while the action runs (every SMS of the site counts in one of
    them), and a refusal's audit entry must stay. If any rule refuses, or the block
    raises (the action was refused after all), everything taken is given back: a
    refused attacker does not keep a country's budget used up, and an SMS that was
    never queued costs nothing — except, when the block raises, the address's count of
    the country (see ``_Budget.give_back``): a country it asked for stays one of its
    countries for the day.
    """
    # No actions, nothing counted: both calls then do nothing.
    subject = subject or Subject()
    limited = refused_outright_error(rate_limits, subject)
    if limited is not None:
        raise limited
    now = clock.now()
    budget = None
    if settings.SMS_PUMPING_DEFENCE:
        budget = _Budget(get_store(), number=number, ip_address=ip_address, code=code, now=now)
    refusal = None
    if rate_limits or budget is not None:
        # The rate limits, then the budget (only if they let the request through) and
        # the verified codes it is judged against: one call to the store, on PostgreSQL
        # one statement. A code's budget is counted and, if refused, given back in one
        # transaction, under the row locks its count took, so no racing request sees
        # the refused count: an address's count of a country among them, which seen
        # above one would spare a racing request the country limit for the rest of
        # the day. In Redis, which has no row locks, a lock of the address's count of
        # the country does the same. An invitation's budget is one counter, the breaker.
        with (
            budget.one_at_a_time() if budget is not None else nullcontext(),
            transaction.atomic() if code and budget is not None else counting_transaction(),
        ):
            limited, counts = count_rate_limits(
                rate_limits, subject,
                then=budget.counts if budget is not None else (),
                reading=budget.reading() if budget is not None else (),
            )
            if limited is None and budget is not None:
                refusal = budget.judge(counts)
                if refusal is not None:
                    budget.give_back()
    if limited is not None:
        raise limited
    if refusal is not None:
        assert budget is not None
        record_audit_entry(
            AuditAction.RATE_LIMITED, ip_address=ip_address, reason=refusal.rule,
            region=budget.country,
        )
        raise _refusal_error(refusal, wait=refusal.window.seconds_left(now))
    try:
        yield
    except BaseException:
        if budget is not None:
            with counting_transaction():
                budget.give_back(keep_countries=True)
        raise


def _refusal_error(refusal: _Refusal, *, wait: int) -> ActionError:
    if refusal.rule == "sms.global_hourly":
        return ActionError(
            "sms_paused",
            _("We are sending unusually many SMS, so sending is paused for a while. "
              "Try again in %(wait)s.") % {"wait": describe_wait(wait)},
            status=429,
            retry_after=wait,
        )
    if refusal.rule == "sms.ip_countries":
        message = _("Codes were asked for numbers in too many countries from your network "
                    "today. Try again in %(wait)s.")
    else:
        message = _("Too many codes sent to numbers in this country were never used, so "
                    "sending codes there is paused. Try again in %(wait)s.")
    return ActionError(
        "sms_budget_exceeded",
        message % {"wait": describe_wait(wait)},
        status=429,
        field="phone",
        retry_after=wait,
    )


def record_code_verified(region: str, *, count: int = 1) -> None:
    """Count a code typed correctly (or ``count`` of them), as the caller's transaction
    commits (``CounterStore.increment_later``: a join's goes in with its last writes):
    it frees its country's unverified budget, and a busy day of verified codes raises
    the country's caps for the next two weeks."""
    if not settings.SMS_PUMPING_DEFENCE:
        return
    now = clock.now()
    hour, day = Window.at(now, seconds=HOUR), Window.at(now, seconds=DAY)
    country = _country(region)
    get_store().increment_later(
        {
            _verified(country, "h", hour.number): hour.ends,
            _verified(country, "d", day.number): (
                day.ends + timedelta(days=settings.SMS_VERIFIED_LOOKBACK_DAYS)
            ),
        },
        by=count,
    )


def breaker_tripped_until() -> datetime | None:
    """When the SMS circuit breaker, if it has tripped this hour, lets SMS through again."""
    hour = Window.at(clock.now(), seconds=HOUR)
    (alerts,) = get_store().read([_alert(hour)])
    return hour.ends if alerts else None
