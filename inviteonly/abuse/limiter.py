"""One rate limiter for every named action.

``settings.RATE_LIMITS`` maps an action (``send_code``, ``login``, …) to rules: which
key it counts by (number, number prefix, IP, member, country, or one global
counter), how many hits a window allows, and the window's length. ``hit_rules``
counts one hit against rules in order and refuses — with the seconds until that
window ends — at the first rule whose count went over (``abuse.actions`` orders the
rules and turns a refusal into a 429).

Counting is increment-then-compare in one atomic statement, so 50 simultaneous hits
against a limit of 10 let exactly 10 through: on SQLite and PostgreSQL an
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` (one for all of a request's rules), on
Redis ``INCR`` + ``EXPIRE`` in one MULTI. Windows are fixed (aligned to the epoch); the
clock is ``lib.clock``, so tests and benchmarks move it.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction

from inviteonly.abuse.models import RateLimitCounter
from inviteonly.lib import clock, crypto
from inviteonly.lib.phone_numbers import number_prefix
from inviteonly.lib.queries import adapted


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


@dataclass(frozen=True)
class _Hit:
    rule: Rule
    bucket: str
    window: Window


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
    # Whether counts are written in the caller's database transaction (and roll back
    # with it) or immediately, whatever the transaction does.
    transactional: bool

    def increment(self, bucket: str, *, expires_at: datetime, by: int = 1) -> int:
        """Add ``by`` to ``bucket`` (creating it), atomically; return the new count."""
        ...

    def increment_all(
        self, buckets: dict[str, datetime], *, by: int = 1, reading: Sequence[str] = ()
    ) -> dict[str, int]:
        """Add ``by`` to each bucket (creating it) in one round trip; return the new
        counts, and the counts of the ``reading`` buckets (as ``read``), which are not
        changed, in the same round trip."""
        ...

    def take_back(self, buckets: Sequence[str]) -> None:
        """Undo one hit of ``increment_all`` (or ``increment``) on each bucket."""
        ...

    def read(self, buckets: Sequence[str]) -> list[int]:
        """The counts of ``buckets`` (0 for one that does not exist), in one round trip."""
        ...


class DatabaseStore:
    """Counters in the ``RateLimitCounter`` table, counted inside the caller's
    transaction (or a transaction of their own): they commit or roll back with it."""

    transactional = True

    _UPSERT = (
        "INSERT INTO {table} (bucket, count, expires_at) VALUES {values} "
        "ON CONFLICT (bucket) DO UPDATE SET count = {table}.count + excluded.count "
        "RETURNING bucket, count"
    )

    # One bucket's count while its window lasts (NULL if there is none): a lookup in
    # the primary key. PostgreSQL planned "bucket IN (…)" as a scan of the whole table
    # while the table was small enough to look cheap: 0.2–1 ms at 2,500 counters, and
    # growing with them; so a subquery per bucket.
    _COUNT = "(SELECT count FROM {table} WHERE bucket = %s AND expires_at > %s)"

    @staticmethod
    def _table() -> str:
        return connection.ops.quote_name(RateLimitCounter._meta.db_table)

    def increment(self, bucket: str, *, expires_at: datetime, by: int = 1) -> int:
        return self._upsert([(bucket, by, expires_at)])[bucket]

    def increment_all(
        self, buckets: dict[str, datetime], *, by: int = 1, reading: Sequence[str] = ()
    ) -> dict[str, int]:
        """Add ``by`` to each bucket (creating it) in one statement; return the new
        counts, and those of the ``reading`` buckets."""
        return self._upsert([(bucket, by, ends) for bucket, ends in buckets.items()], reading)

    def _upsert(
        self, rows: list[tuple[str, int, datetime]], reading: Sequence[str] = ()
    ) -> dict[str, int]:
        values = ", ".join(["(%s, %s, %s)"] * len(rows))
        upsert = self._UPSERT.format(table=self._table(), values=values)
        parameters: list[Any] = [value for row in rows for value in row]
        # The reads see the counters as they were before the upsert: they must not be
        # among its buckets.
        assert not set(reading) & {row[0] for row in rows}
        read_beside = bool(reading) and connection.vendor == "postgresql"
        if read_beside:
            # PostgreSQL: the upsert as a WITH clause and each bucket read beside its
            # rows, one round trip. (SQLite has no INSERT in WITH; it has no round trips.)
            count = self._COUNT.format(table=self._table())
            reads = "".join(f" UNION ALL SELECT %s, {count}" for _ in reading)
            upsert = f"WITH counted AS ({upsert}) SELECT bucket, count FROM counted{reads}"  # noqa: S608
            now = clock.now()
            parameters += adapted([value for bucket in reading for value in (bucket, bucket, now)])
        with connection.cursor() as cursor:
            cursor.execute(upsert, parameters)
            # RETURNING gives no order: the bucket names each count.
            counts = {bucket: int(count or 0) for bucket, count in cursor.fetchall()}
        if reading and not read_beside:
            counts.update(zip(reading, self.read(reading), strict=True))
        return counts

    def take_back(self, buckets: Sequence[str]) -> None:
        """Undo one ``increment_all`` hit on each bucket; a bucket it created goes away."""
        placeholders = ", ".join(["%s"] * len(buckets))
        table = self._table()
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE bucket IN ({placeholders}) AND count <= 1",  # noqa: S608
                list(buckets),
            )
            cursor.execute(
                f"UPDATE {table} SET count = count - 1 WHERE bucket IN ({placeholders})",  # noqa: S608
                list(buckets),
            )

    def read(self, buckets: Sequence[str]) -> list[int]:
        count = self._COUNT.format(table=self._table())
        now = clock.now()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join([count] * len(buckets))}",
                adapted([value for bucket in buckets for value in (bucket, now)]),
            )
            row = cursor.fetchone()
        return [int(value or 0) for value in row]


class RedisStore:
    transactional = False

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)

    def increment(self, bucket: str, *, expires_at: datetime, by: int = 1) -> int:
        pipeline = self.client.pipeline(transaction=True)
        self._add(pipeline, bucket, by=by, expires_at=expires_at)
        count, _expiry_set = pipeline.execute()
        return int(count)

    def increment_all(
        self, buckets: dict[str, datetime], *, by: int = 1, reading: Sequence[str] = ()
    ) -> dict[str, int]:
        pipeline = self.client.pipeline(transaction=True)
        for bucket, expires_at in buckets.items():
            self._add(pipeline, bucket, by=by, expires_at=expires_at)
        if reading:
            pipeline.mget(reading)
        results = pipeline.execute()
        counts = {
            bucket: int(count)
            for bucket, count in zip(buckets, results[: 2 * len(buckets) : 2], strict=True)
        }
        if reading:
            values = results[-1]
            counts.update(zip(reading, (int(value or 0) for value in values), strict=True))
        return counts

    def take_back(self, buckets: Sequence[str]) -> None:
        pipeline = self.client.pipeline(transaction=True)
        for bucket in buckets:
            pipeline.decr(bucket)
        pipeline.execute()

    def read(self, buckets: Sequence[str]) -> list[int]:
        return [int(value or 0) for value in self.client.mget(buckets)]

    @staticmethod
    def _add(pipeline: Any, bucket: str, *, by: int, expires_at: datetime) -> None:
        # A time to live, not an instant: the injectable clock may not be Redis's.
        pipeline.incrby(bucket, by)
        pipeline.expire(bucket, max(1, math.ceil((expires_at - clock.now()).total_seconds())))


@contextmanager
def counting_transaction() -> Iterator[None]:
    """A transaction of the counters' own. On PostgreSQL their table is UNLOGGED
    (abuse migration 0003): a transaction that only counts writes no WAL, so its commit
    does not wait for the disk — a counter is worth no fsync, and a crash can lose at
    most the counts (Redis, where configured, keeps them only in memory anyway). A
    refusal's audit entry written in it is an ordinary durable write; the action's own
    writes always commit in their own transaction."""
    with transaction.atomic():
        yield


@cache
def _store_for(redis_url: str) -> CounterStore:
    return RedisStore(redis_url) if redis_url else DatabaseStore()


def get_store() -> CounterStore:
    return _store_for(settings.REDIS_URL)


def _hits(rules: Sequence[Rule], subject: Subject, *, now: datetime) -> Iterator[_Hit]:
    """The counter each rule counts this subject in (rules without their key: none),
    worked out one at a time: a number's key is an HMAC."""
    for rule in rules:
        value = _key_value(rule, subject)
        if value is None:
            continue
        window = Window.at(now, seconds=rule.window_seconds)
        yield _Hit(rule=rule, bucket=f"rl:{rule.name}:{value}:{window.number}", window=window)


def _in_one_statement(store: CounterStore, hits: list[_Hit]) -> bool:
    # One upsert cannot update a row twice: a rule listed twice is counted one by one.
    return isinstance(store, DatabaseStore) and len({hit.bucket for hit in hits}) == len(hits) > 1


class _FullBuckets:
    """Buckets this process has seen over their limit, until their windows end.

    A bucket's count never falls within its window (a hit taken back was added by the
    same request a moment before), so once a rule refused a key, every later request
    for that key in the window is refused too: a flood from one address costs no
    counter write after the first refusal."""

    MAX_REMEMBERED = 10_000

    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def holds(self, bucket: str, now: datetime) -> bool:
        ends = self._until.get(bucket)
        return ends is not None and now < ends

    def remember(self, hit: _Hit, now: datetime) -> None:
        with self._lock:
            if len(self._until) >= self.MAX_REMEMBERED:
                self._until = {key: ends for key, ends in self._until.items() if now < ends}
            self._until[hit.bucket] = hit.window.ends

    def forget(self) -> None:
        with self._lock:
            self._until.clear()


_full_buckets = _FullBuckets()


def forget_full_buckets() -> None:
    """For tests, which roll the counters back while the clock stands still."""
    _full_buckets.forget()


def hit_rules(rules: Sequence[Rule], subject: Subject, *, store: CounterStore) -> Refusal | None:
    """Count against the rules one at a time, in order, and stop at the first that
    refuses: the rules after it are not counted, so a refused request does not eat
    into longer windows or into the budget of the number it targets (list the
    per-address rules first).

    The database store counts every rule in one statement and, when a rule refuses,
    takes the hits of the rules after it back, in the same transaction: other
    requests, which wait for the counter rows (or SQLite's write lock), see exactly
    the counts of one-at-a-time counting. A rule this process already saw full in the
    current window refuses without a write; only the rules before it are counted.
    """
    now = clock.now()
    hits = list(_hits(rules, subject, now=now))
    full = next((i for i, hit in enumerate(hits) if _full_buckets.holds(hit.bucket, now)), None)
    refused = _count_until_refused(hits if full is None else hits[:full], store=store)
    if refused is None and full is not None:
        refused = hits[full]
    if refused is None:
        return None
    _full_buckets.remember(refused, now)
    return _refusal(refused, now=now)


def refused_outright(rules: Sequence[Rule], subject: Subject) -> Refusal | None:
    """The refusal of a request whose first rule this process saw full in the current
    window: nothing would be counted, so the store need not be asked."""
    now = clock.now()
    first = next(_hits(rules, subject, now=now), None)  # the later rules' keys: not needed
    if first is not None and _full_buckets.holds(first.bucket, now):
        return _refusal(first, now=now)
    return None


def _count_until_refused(hits: list[_Hit], *, store: CounterStore) -> _Hit | None:
    if _in_one_statement(store, hits):
        assert isinstance(store, DatabaseStore)
        with transaction.atomic(savepoint=False):
            counts = store.increment_all({hit.bucket: hit.window.ends for hit in hits})
            for position, hit in enumerate(hits):
                if counts[hit.bucket] > hit.rule.limit:
                    not_counted = [later.bucket for later in hits[position + 1 :]]
                    if not_counted:
                        store.take_back(not_counted)
                    return hit
        return None
    for hit in hits:
        if store.increment(hit.bucket, expires_at=hit.window.ends) > hit.rule.limit:
            return hit
    return None


def count_hits(rules: Sequence[Rule], subject: Subject, *, store: CounterStore) -> None:
    """Count one hit against every rule, refusing nothing: an attempt already let
    through whose first count was rolled back with its failed action."""
    hits = list(_hits(rules, subject, now=clock.now()))
    if _in_one_statement(store, hits):
        assert isinstance(store, DatabaseStore)
        store.increment_all({hit.bucket: hit.window.ends for hit in hits})
        return
    for hit in hits:
        store.increment(hit.bucket, expires_at=hit.window.ends)


def _refusal(hit: _Hit, *, now: datetime) -> Refusal:
    return Refusal(rule=hit.rule, retry_after_seconds=hit.window.seconds_left(now))


def sweep_expired_counters() -> int:
    """Delete database counters whose window has ended (Redis expires its own)."""
    deleted, _by_model = RateLimitCounter.objects.filter(expires_at__lte=clock.now()).delete()
    return deleted
