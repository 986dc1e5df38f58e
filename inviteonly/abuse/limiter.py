"""One rate limiter for every named action.

``settings.RATE_LIMITS`` maps an action (``send_code``, ``login``, …) to rules: which
key it counts by (number, number prefix, IP, member, country, or one global
counter), how many hits a window allows, and the window's length. ``hit_rules``
counts one hit against rules in order and refuses — with the seconds until that
window ends — at the first rule whose count went over (``abuse.actions`` orders the
rules and turns a refusal into a 429).

Counting is increment-then-compare in one atomic statement, so 50 simultaneous hits
against a limit of 10 let exactly 10 through: on SQLite and PostgreSQL an
``INSERT … ON CONFLICT DO UPDATE … RETURNING``, on Redis ``INCR`` + ``EXPIRE`` in one
MULTI. Windows are fixed (aligned to the epoch); the clock is ``lib.clock``, so tests
and benchmarks move it.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Protocol

from django.conf import settings
from django.db import connection

from inviteonly.abuse.models import RateLimitCounter
from inviteonly.lib import clock, crypto
from inviteonly.lib.phone_numbers import number_prefix


class KeyKind(StrEnum):
    NUMBER = "number"
    # Country code + the next four digits: a block of numbers bought together.
    NUMBER_PREFIX = "number_prefix"
    IP = "ip"
    MEMBER = "member"
    COUNTRY = "country"
    GLOBAL = "global"


@dataclass(frozen=True)
class Rule:
    action: str
    key: KeyKind
    limit: int
    window_seconds: int

    @property
    def name(self) -> str:
        return f"{self.action}.{self.key}.{self.limit}/{self.window_seconds}s"


@dataclass(frozen=True)
class Subject:
    """What a request is about; rules pick the parts they count by."""

    number: str | None = None  # E.164
    ip: str | None = None
    member_id: int | None = None
    country: str | None = None
    # Kept apart from the plain number's counters: a decoy join (a number the link was
    # not sent to) counts per link and number, so it cannot use up the owner's budget.
    number_scope: str = ""


@dataclass(frozen=True)
class Refusal:
    rule: Rule
    retry_after_seconds: int


def rules_for(action: str) -> list[Rule]:
    return [
        Rule(action=action, key=KeyKind(key), limit=limit, window_seconds=window)
        for key, limit, window in settings.RATE_LIMITS.get(action, ())
    ]


def _key_value(rule: Rule, subject: Subject) -> str | None:
    if rule.key == KeyKind.GLOBAL:
        return "all"
    if rule.key in (KeyKind.NUMBER, KeyKind.NUMBER_PREFIX):
        if subject.number is None:
            return None
        value = subject.number if rule.key == KeyKind.NUMBER else number_prefix(subject.number)
        # Counters are keyed by a digest: the store never sees a number.
        return crypto.token_digest(subject.number_scope + value, context="rate-limit")[:32]
    if rule.key == KeyKind.IP:
        return address_key(subject.ip)
    if rule.key == KeyKind.MEMBER:
        return None if subject.member_id is None else str(subject.member_id)
    return subject.country


def address_key(ip: str | None) -> str | None:
    """An IPv4 address as is; an IPv6 address by its /64, which one subscriber holds
    whole (counting single IPv6 addresses would give them 2**64 budgets)."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True)
class Window:
    """One fixed window: the ``number``-th span of ``seconds`` since the epoch."""

    number: int
    ends: datetime

    @classmethod
    def at(cls, moment: datetime, *, seconds: int) -> Window:
        number = int(moment.timestamp()) // seconds
        return cls(number, datetime.fromtimestamp((number + 1) * seconds, tz=moment.tzinfo))

    def seconds_left(self, now: datetime) -> int:
        return max(1, math.ceil((self.ends - now).total_seconds()))


class CounterStore(Protocol):
    def increment(self, bucket: str, *, expires_at: datetime, by: int = 1) -> int:
        """Add ``by`` (one, or minus one to take a hit back) to ``bucket``, creating it,
        atomically; return the new count."""
        ...

    def read(self, buckets: Sequence[str]) -> list[int]:
        """The counts of ``buckets`` (0 for one that does not exist), in one round trip."""
        ...


class DatabaseStore:
    _UPSERT = (
        "INSERT INTO {table} (bucket, count, expires_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (bucket) DO UPDATE SET count = {table}.count + %s RETURNING count"
    )

    def increment(self, bucket: str, *, expires_at: datetime, by: int = 1) -> int:
        table = connection.ops.quote_name(RateLimitCounter._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(self._UPSERT.format(table=table), [bucket, max(by, 0), expires_at, by])
            (count,) = cursor.fetchone()
        return int(count)

    def read(self, buckets: Sequence[str]) -> list[int]:
        counts = dict(
            RateLimitCounter.objects.filter(bucket__in=buckets, expires_at__gt=clock.now())
            .values_list("bucket", "count")
        )
        return [counts.get(bucket, 0) for bucket in buckets]


class RedisStore:
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)

    def increment(self, bucket: str, *, expires_at: datetime, by: int = 1) -> int:
        # A time to live, not an instant: the injectable clock may not be Redis's.
        ttl = max(1, math.ceil((expires_at - clock.now()).total_seconds()))
        pipeline = self.client.pipeline(transaction=True)
        pipeline.incrby(bucket, by)
        pipeline.expire(bucket, ttl)
        count, _expiry_set = pipeline.execute()
        return int(count)

    def read(self, buckets: Sequence[str]) -> list[int]:
        return [int(value or 0) for value in self.client.mget(buckets)]


@cache
def _store_for(redis_url: str) -> CounterStore:
    return RedisStore(redis_url) if redis_url else DatabaseStore()


def get_store() -> CounterStore:
    return _store_for(settings.REDIS_URL)


def hit_rules(rules: Sequence[Rule], subject: Subject, *, store: CounterStore) -> Refusal | None:
    """Count against the rules one at a time, in order, and stop at the first that
    refuses: the rules after it are not counted, so a refused request does not eat
    into longer windows or into the budget of the number it targets (list the
    per-address rules first)."""
    now = clock.now()
    for rule in rules:
        value = _key_value(rule, subject)
        if value is None:
            continue
        window = Window.at(now, seconds=rule.window_seconds)
        bucket = f"rl:{rule.name}:{value}:{window.number}"
        if store.increment(bucket, expires_at=window.ends) > rule.limit:
            return Refusal(rule=rule, retry_after_seconds=window.seconds_left(now))
    return None

def sweep_expired_counters() -> int:
    """Delete database counters whose window has ended (Redis expires its own)."""
    deleted, _by_model = RateLimitCounter.objects.filter(expires_at__lte=clock.now()).delete()
    return deleted
