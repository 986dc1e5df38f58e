"""One rate limiter for every named action.

``settings.RATE_LIMITS`` maps an action (``send_code``, ``login``, …) to rules: which
key it counts by (number, number prefix, IP, member, country, or one global
counter), how many hits a window allows, and the window's length. ``hit_rules``
counts one hit against rules in order and refuses — with the seconds until that
window ends — at the first rule whose count went over (``abuse.actions`` orders the
rules and turns a refusal into a 429).

Counting is increment-then-compare, each counter atomically, so 50 simultaneous hits
against a limit of 10 let exactly 10 through: in the database an
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` (on PostgreSQL one statement for all
of a request's rules, ``DatabaseStore.count_in_order``), in Redis ``INCR`` +
``EXPIRE`` (a cooldown's ``EXPIRE NX``) in one MULTI. Windows are fixed (aligned to
the epoch), but for a rule of one hit per window, a cooldown (a code's resend wait):
its window starts at the hit it lets through, so two hits it lets through are always
at least the window apart — a window of the clock would let two through a second
apart, one on each side of its end.
The clock is ``lib.clock``, so tests and benchmarks move it.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache, partial
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from inviteonly.abuse.models import RateLimitCounter
from inviteonly.lib import clock, crypto
from inviteonly.lib.phone_numbers import number_prefix
from inviteonly.lib.queries import adapted, execute_later, writing_together


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

    @property
    def cooldown(self) -> bool:
        """One hit per window: its window starts at the hit it lets through (``Count.
        restarts``), not at a multiple of its length."""
        return self.limit == 1


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
class Count:
    """One counter a request adds one to. With a ``limit``, the counters after it (in
    ``count_in_order``) are counted only if its new count stays within it. With
    ``if_first_of`` (the bucket of a counter before it), it is counted only if that
    counter's new count is 1 — the first of its window: what counts distinct values
    (the countries an address asked for codes to). Such a counter comes last.

    ``restarts``: a counter whose bucket names no window (a cooldown's), so that its row
    may be counted again after its window ended: it then starts anew, at 1 and ending
    at ``expires_at``, and its row's end is returned (``Counted.ends``). Every store
    treats an ended row so (as ``read`` does, which counts it as none); only for these
    can it happen."""

    bucket: str
    expires_at: datetime
    limit: int | None = None
    if_first_of: str | None = None
    restarts: bool = False


@dataclass(frozen=True)
class Counted:
    """What ``count_in_order`` did: the new counts of the counters it counted (those
    asked for, in order, up to the first over its limit) and the counts it read."""

    counts: list[int]
    read: dict[str, int]
    # When the window of each ``restarts`` counter counted ends, as stored.
    ends: dict[str, datetime] = field(default_factory=dict)


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
    whole (counting single IPv6 addresses would give them 2**64 budgets). An IPv4
    address in IPv6 form (``::ffff:198.51.100.1``, as a dual-stack listener or proxy
    reports every IPv4 client) is the IPv4 address: by its /64, every IPv4 client
    would share one budget."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True)
class Window:
    """One fixed window: the ``number``-th span of ``seconds`` since the epoch; or a
    cooldown's, which starts at a hit (``starting_at``; its number means nothing)."""

    number: int
    ends: datetime

    @classmethod
    def at(cls, moment: datetime, *, seconds: int) -> Window:
        number = int(moment.timestamp()) // seconds
        return cls(number, datetime.fromtimestamp((number + 1) * seconds, tz=moment.tzinfo))

    @classmethod
    def starting_at(cls, moment: datetime, *, seconds: int) -> Window:
        return cls(0, moment + timedelta(seconds=seconds))

    def seconds_left(self, now: datetime) -> int:
        return max(1, math.ceil((self.ends - now).total_seconds()))


def _split_conditional(counts: Sequence[Count]) -> tuple[Sequence[Count], Count | None]:
    """The counters counted unconditionally, and the last if it is counted ``if_first_of``
    another (which must then be one of them)."""
    assert all(count.if_first_of is None for count in counts[:-1]), (
        "only the last counter may be counted if_first_of another"
    )
    if counts and counts[-1].if_first_of is not None:
        assert counts[-1].if_first_of in {count.bucket for count in counts[:-1]}
        return counts[:-1], counts[-1]
    return counts, None


def _first_of(count: Count, new: dict[str, int]) -> bool:
    """Whether ``count`` is to be counted, given the new counts of those before it."""
    return count.if_first_of is None or new.get(count.if_first_of) == 1


class CounterStore(Protocol):
    # Whether counts are written in the caller's database transaction (and roll back
    # with it) or immediately, whatever the transaction does.
    transactional: bool

    def increment(self, bucket: str, *, expires_at: datetime, by: int = 1) -> int:
        """Add ``by`` to ``bucket`` (creating it), atomically; return the new count."""
        ...

    def increment_all(self, buckets: dict[str, datetime], *, by: int = 1) -> dict[str, int]:
        """Add ``by`` to each bucket (creating it) in one round trip; return the new
        counts."""
        ...

    def increment_later(self, buckets: dict[str, datetime], *, by: int = 1) -> None:
        """``increment_all``, but only if and once the caller's transaction commits."""
        ...

    def count_in_order(self, counts: Sequence[Count], *, reading: Sequence[str] = ()) -> Counted:
        """Add one to each counter in order, each atomically, and stop after the first
        whose new count is over its limit: the ones after it stay as they are. The last
        may be counted only ``if_first_of`` another (``Count``). Read the ``reading``
        counters (as ``read``; none of them counted here) as well."""
        ...

    def take_back(self, buckets: Sequence[str]) -> None:
        """Undo one hit of ``increment_all`` (or ``increment``) on each bucket."""
        ...

    def read(self, buckets: Sequence[str]) -> list[int]:
        """The counts of ``buckets`` (0 for one that does not exist), in one round trip."""
        ...

    def one_at_a_time(self, bucket: str) -> AbstractContextManager[object]:
        """Hold every other request that counts ``bucket`` in such a block until this
        one ends: what a database transaction's row locks do, for a count that may be
        given back after it was judged."""
        ...


def _stored_datetime(value: datetime | str) -> datetime:
    """A ``DateTimeField`` value as a hand-written statement returns it: a datetime on
    PostgreSQL, a naive one (or its text) in UTC on SQLite."""
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    assert parsed is not None, value
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class _Incrementing:
    """``increment`` and ``increment_all`` of a store, by its ``_increment`` of counts
    (the new counts, and the ends of restarted windows), in one statement or MULTI."""

    def _increment(
        self, counts: Sequence[Count], *, by: int = 1
    ) -> tuple[dict[str, int], dict[str, datetime]]:
        raise NotImplementedError

    def increment(self, bucket: str, *, expires_at: datetime, by: int = 1) -> int:
        return self.increment_all({bucket: expires_at}, by=by)[bucket]

    def increment_all(self, buckets: dict[str, datetime], *, by: int = 1) -> dict[str, int]:
        """Add ``by`` to each bucket (creating it) at once; return the new counts."""
        counts, _ends = self._increment(
            [Count(bucket, ends) for bucket, ends in buckets.items()], by=by
        )
        return counts


class DatabaseStore(_Incrementing):
    """Counters in the ``RateLimitCounter`` table, counted inside the caller's
    transaction (or a transaction of their own): they commit or roll back with it."""

    transactional = True

    _UPSERT = (
        "INSERT INTO {table} (bucket, count, expires_at) VALUES {values} "
        "ON CONFLICT (bucket) DO UPDATE SET {counted} RETURNING bucket, count, expires_at"
    )
    _COUNTED = "count = {table}.count + excluded.count"
    # A row whose window ended (at {now}) counts as none, as it does in ``read``:
    # counting it starts it anew. Only a ``restarts`` counter's row (a cooldown's) can
    # be counted after its window ended, the others' buckets name their window: written
    # only where one is counted, to keep the registration's statement short.
    _RESTARTED = (
        "count = CASE WHEN {table}.expires_at > {now} THEN {table}.count + excluded.count "
        "ELSE excluded.count END, expires_at = CASE WHEN {table}.expires_at > {now} "
        "THEN {table}.expires_at ELSE excluded.expires_at END"
    )

    # One bucket's count while its window lasts (NULL if there is none): a lookup in
    # the primary key. PostgreSQL planned "bucket IN (…)" as a scan of the whole table
    # while the table was small enough to look cheap: 0.2–1 ms at 2,500 counters, and
    # growing with them; so a subquery per bucket. The time is a parameter once, in
    # _NOW, not once per bucket: psycopg parses a statement of more than 50
    # parameters afresh on every run (a request's counts read 16 buckets).
    _COUNT = "(SELECT count FROM {table} WHERE bucket = %s AND expires_at > (SELECT at FROM now_))"
    _NOW = "now_(at) AS (SELECT %s)"
    # PostgreSQL: the same for a list of buckets, as one array in their order (NULL for
    # each that has none) — one parameter and a statement of one length whatever their
    # number: psycopg also parses afresh a statement of more than 4,096 bytes, which a
    # subquery per bucket made of the join's count. Each is still a lookup in the key.
    _COUNTS = (
        "(SELECT array_agg((SELECT c.count FROM {table} c WHERE c.bucket = b.bucket "
        "AND c.expires_at > (SELECT at FROM now_)) ORDER BY b.at) "
        "FROM unnest(%s::varchar[]) WITH ORDINALITY b(bucket, at))"
    )

    @staticmethod
    def _table() -> str:
        return connection.ops.quote_name(RateLimitCounter._meta.db_table)

    def _increment(
        self, counts: Sequence[Count], *, by: int = 1
    ) -> tuple[dict[str, int], dict[str, datetime]]:
        """``increment_all`` of ``counts``: their new counts, and the end of each
        ``restarts`` counter's window."""
        with connection.cursor() as cursor:
            cursor.execute(*self._upsert(counts, by=by))
            # RETURNING gives no order: the bucket names each count.
            rows = cursor.fetchall()
        restarting = {count.bucket for count in counts if count.restarts}
        return (
            {bucket: int(count) for bucket, count, _ends in rows},
            {bucket: _stored_datetime(ends) for bucket, _count, ends in rows
             if bucket in restarting},
        )

    def increment_later(self, buckets: dict[str, datetime], *, by: int = 1) -> None:
        """In the caller's transaction: with the writes of its ``written_together``
        block, if one is open (on PostgreSQL in the same statement, a round trip fewer;
        the rows stay locked until the commit that follows it), else once it commits."""
        if not writing_together():
            transaction.on_commit(partial(self.increment_all, buckets, by=by))
            return
        execute_later(*self._upsert([Count(bucket, ends) for bucket, ends in buckets.items()],
                                    by=by))

    def _upsert(self, counts: Sequence[Count], *, by: int) -> tuple[str, list[Any]]:
        """The upsert that adds ``by`` to each counter, and its parameters. ``by``, a
        whole number, is written into the SQL: a join's last statement holds two such
        upserts' worth of parameters fewer, under the 50 past which psycopg parses a
        statement afresh on every run."""
        table = self._table()
        values = ", ".join([f"(%s, {int(by)}, %s)"] * len(counts))
        # Times as the ORM writes them (on SQLite text, compared as text).
        parameters: list[Any] = [value for count in counts
                                 for value in adapted([count.bucket, count.expires_at])]
        counted = self._COUNTED.format(table=table)
        if any(count.restarts for count in counts):
            counted = self._RESTARTED.format(table=table, now="%s")
            parameters += [*adapted([clock.now()]), *adapted([clock.now()])]
        return self._UPSERT.format(table=table, values=values, counted=counted), parameters

    def count_in_order(self, counts: Sequence[Count], *, reading: Sequence[str] = ()) -> Counted:
        buckets = [count.bucket for count in counts]
        assert not set(reading) & set(buckets), "a counter counted here is not read here"
        plain, last = _split_conditional(counts)
        if not counts and not reading:
            return Counted([], {})  # a request whose first rule was full: nothing to ask
        if len(set(buckets)) < len(buckets):
            # A counter listed twice (one statement cannot change a row twice): one by
            # one, in the caller's transaction.
            done: list[int] = []
            new: dict[str, int] = {}
            ends: dict[str, datetime] = {}
            for count in counts:
                if not _first_of(count, new):
                    break
                one, one_ends = self._increment([count])
                done.append(one[count.bucket])
                new[count.bucket] = done[-1]
                ends |= one_ends
                if count.limit is not None and done[-1] > count.limit:
                    break
            return Counted(done, dict(zip(reading, self.read(reading), strict=True)), ends)
        if connection.vendor == "postgresql":
            return self._count_in_one_statement(counts, reading)
        # SQLite (no INSERT in WITH, and no round trips to save): every counter in one
        # upsert, then the counts after the first over its limit taken back — in one
        # transaction, so other requests (waiting for the write lock) see exactly the
        # counts of one-at-a-time counting; a conditional last counter after them.
        with transaction.atomic(savepoint=False):
            new, ends = self._increment(plain) if plain else ({}, {})
            done = [new[count.bucket] for count in plain]
            over = next(
                (at for at, count in enumerate(plain)
                 if count.limit is not None and done[at] > count.limit),
                None,
            )
            if over is not None and buckets[over + 1 : len(plain)]:
                self.take_back(buckets[over + 1 : len(plain)])
                ends = {bucket: end for bucket, end in ends.items()
                        if bucket in buckets[: over + 1]}
            if over is None and last is not None and _first_of(last, new):
                last_count, last_ends = self._increment([last])
                done.append(last_count[last.bucket])
                ends |= last_ends
            return Counted(
                done if over is None else done[: over + 1],
                dict(zip(reading, self.read(reading), strict=True)),
                ends,
            )

    def _count_in_one_statement(self, counts: Sequence[Count], reading: Sequence[str]) -> Counted:
        """PostgreSQL: ``WITH c0 AS (INSERT … ON CONFLICT … RETURNING count), c1 AS
        (INSERT … SELECT … WHERE (SELECT count <= %s FROM c0) …), … SELECT (SELECT count
        FROM c0), …, <each read>``. A counter goes in only if the one before it did and
        kept within its limit; each waits for its row as a single upsert would, so
        racing requests count exactly as one at a time would. No transaction needed."""
        table = self._table()
        clauses: list[str] = []
        parameters: list[Any] = []
        positions = {count.bucket: position for position, count in enumerate(counts)}
        restarting = [at for at, count in enumerate(counts) if count.restarts]
        for position, count in enumerate(counts):
            parameters += [count.bucket, count.expires_at]
            conditions = []
            if position:
                before = counts[position - 1]
                if before.limit is None:
                    conditions.append(f"EXISTS (SELECT FROM c{position - 1})")
                else:
                    conditions.append(f"(SELECT count <= %s FROM c{position - 1})")  # noqa: S608
                    parameters.append(before.limit)
            if count.if_first_of is not None:
                conditions.append(f"(SELECT count = 1 FROM c{positions[count.if_first_of]})")  # noqa: S608
            where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            if count.restarts:
                counted = self._RESTARTED.format(table=table, now="(SELECT at FROM now_)")
                returning = "count, expires_at"
            else:
                counted, returning = f"count = {table}.count + 1", "count"
            clauses.append(
                f"c{position} AS (INSERT INTO {table} (bucket, count, expires_at) "
                f"SELECT %s, 1, %s{where} ON CONFLICT (bucket) DO UPDATE "
                f"SET {counted} RETURNING {returning})"
            )
        columns = [f"(SELECT count FROM c{at})" for at in range(len(counts))]  # noqa: S608
        columns += [f"(SELECT expires_at FROM c{at})" for at in restarting]  # noqa: S608
        if reading:
            columns.append(self._COUNTS.format(table=table))
            parameters.append(list(reading))
        if reading or restarting:
            # The time, once: what the reads and a restarting counter's window end by.
            clauses.insert(0, self._NOW)
            parameters = [*adapted([clock.now()]), *parameters]
        with_clause = f"WITH {', '.join(clauses)} " if clauses else ""
        with connection.cursor() as cursor:
            cursor.execute(f"{with_clause}SELECT {', '.join(columns)}", parameters)
            row = cursor.fetchone()
        assert row is not None
        done = [int(value) for value in row[: len(counts)] if value is not None]
        ends_at = row[len(counts) : len(counts) + len(restarting)]
        ends = {counts[at].bucket: _stored_datetime(end)
                for at, end in zip(restarting, ends_at, strict=True) if end is not None}
        read = row[len(counts) + len(restarting)] if reading else []
        return Counted(done, {bucket: int(value or 0) for bucket, value in
                              zip(reading, read, strict=True)}, ends)

    def take_back(self, buckets: Sequence[str]) -> None:
        """Undo one hit on each bucket. On PostgreSQL one statement that takes the rows
        one after the other in the order given — the order they were counted in, in
        which every count takes them — so that it cannot deadlock with racing counts
        (an ``UPDATE … WHERE bucket IN (…)`` takes them in an order of its own); a
        bucket it brings to 0 stays until the sweep. On SQLite, which has no row locks,
        a bucket it created goes away."""
        if not buckets:
            return
        table = self._table()
        if connection.vendor == "postgresql":
            # Each UPDATE's condition reads the one before it, which therefore runs (and
            # locks its row) first.
            clauses = []
            for at in range(len(buckets)):
                after = f" AND (SELECT count(*) FROM d{at - 1}) >= 0" if at else ""  # noqa: S608
                clauses.append(
                    f"d{at} AS (UPDATE {table} SET count = count - 1 "  # noqa: S608
                    f"WHERE bucket = %s{after} RETURNING 1)"
                )
            with connection.cursor() as cursor:
                cursor.execute(
                    f"WITH {', '.join(clauses)} SELECT count(*) FROM d{len(buckets) - 1}",  # noqa: S608
                    list(buckets),
                )
            return
        placeholders = ", ".join(["%s"] * len(buckets))
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
        if not buckets:
            return []
        count = self._COUNT.format(table=self._table())
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH {self._NOW} SELECT {', '.join([count] * len(buckets))}",
                [*adapted([clock.now()]), *buckets],
            )
            row = cursor.fetchone()
        return [int(value or 0) for value in row]

    def one_at_a_time(self, bucket: str) -> AbstractContextManager[object]:
        # The caller's transaction holds the counters' rows locked until it ends.
        return nullcontext()


class RedisStore(_Incrementing):
    transactional = False

    # Only a counter still there: one whose window ended (and expired) made anew by a
    # DECR would stay for good, at -1 and with no time to live.
    _TAKE_BACK = """
        for _, bucket in ipairs(KEYS) do
            if redis.call('EXISTS', bucket) == 1 then redis.call('DECR', bucket) end
        end
    """

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self._take_back = self.client.register_script(self._TAKE_BACK)

    def _increment(
        self, counts: Sequence[Count], *, by: int = 1
    ) -> tuple[dict[str, int], dict[str, datetime]]:
        """``increment_all`` of ``counts`` in one MULTI: their new counts, and the end of
        each ``restarts`` counter's window."""
        pipeline = self.client.pipeline(transaction=True)
        for count in counts:
            self._add(pipeline, count, by=by)
        return self._counted(counts, pipeline.execute())

    def increment_later(self, buckets: dict[str, datetime], *, by: int = 1) -> None:
        transaction.on_commit(partial(self.increment_all, buckets, by=by))

    def count_in_order(self, counts: Sequence[Count], *, reading: Sequence[str] = ()) -> Counted:
        plain, conditional = _split_conditional(counts)
        done: list[int] = []
        ends: dict[str, datetime] = {}
        start = 0
        while True:
            # A run: the counters up to the next with a limit, whose count decides
            # whether to go on, in one MULTI; the reads go with the last run.
            end = next(
                (at + 1 for at in range(start, len(plain)) if plain[at].limit is not None),
                len(plain),
            )
            last = end == len(plain)
            pipeline = self.client.pipeline(transaction=True)
            for count in plain[start:end]:
                self._add(pipeline, count, by=1)
            if last and reading:
                pipeline.mget(reading)
            results = pipeline.execute()
            run, run_ends = self._counted(plain[start:end], results)
            done += [run[count.bucket] for count in plain[start:end]]
            ends |= run_ends
            limit = plain[end - 1].limit if end > start else None
            stopped = limit is not None and done[-1] > limit
            if last or stopped:
                break
            start = end
        read = results[-1] if last and reading else self.read(reading)
        new = {count.bucket: value for count, value in zip(plain, done, strict=False)}
        if conditional is not None and not stopped and _first_of(conditional, new):
            # Counted only once the count it depends on is known: a MULTI of its own.
            last_count, last_ends = self._increment([conditional])
            done.append(last_count[conditional.bucket])
            ends |= last_ends
        return Counted(done, {bucket: int(value or 0) for bucket, value in
                              zip(reading, read, strict=True)}, ends)

    def take_back(self, buckets: Sequence[str]) -> None:
        if buckets:
            self._take_back(keys=list(buckets))

    def read(self, buckets: Sequence[str]) -> list[int]:
        return [int(value or 0) for value in self.client.mget(buckets)] if buckets else []

    def one_at_a_time(self, bucket: str) -> AbstractContextManager[object]:
        # A lock of its own (Redis has no row locks), freed after 10 s should its holder
        # die; a request that waits longer for it fails.
        lock: AbstractContextManager[object] = self.client.lock(
            f"lock:{bucket}", timeout=10, blocking_timeout=10
        )
        return lock

    # The commands ``_add`` queues for one counter, its count the first one's answer and
    # its time to live in milliseconds the last one's.
    _COMMANDS_PER_COUNT = 3

    @classmethod
    def _add(cls, pipeline: Any, count: Count, *, by: int) -> None:
        # A time to live, not an instant: the injectable clock may not be Redis's. A
        # ``restarts`` counter's is set only on the key INCRBY has just made (EXPIRE NX,
        # Redis 7): its window ends a window after the hit that started it, and ended,
        # Redis removes the key, so the next hit starts it anew.
        pipeline.incrby(count.bucket, by)
        seconds = max(1, math.ceil((count.expires_at - clock.now()).total_seconds()))
        pipeline.expire(count.bucket, seconds, nx=count.restarts)
        pipeline.pttl(count.bucket)

    @classmethod
    def _counted(
        cls, counts: Sequence[Count], results: Sequence[Any]
    ) -> tuple[dict[str, int], dict[str, datetime]]:
        """The new counts, and the ends of the ``restarts`` counters' windows, from the
        answers to ``_add``'s commands (first in ``results``)."""
        step = cls._COMMANDS_PER_COUNT
        now = clock.now()
        new = {count.bucket: int(results[at * step]) for at, count in enumerate(counts)}
        ends = {count.bucket: now + timedelta(milliseconds=max(0, int(results[at * step + 2])))
                for at, count in enumerate(counts) if count.restarts}
        return new, ends


@contextmanager
def counting_transaction() -> Iterator[None]:
    """Where a request's counting happens, outside the action's transaction. On SQLite
    a transaction: the counts, a refusal's audit entry and any counts given back
    commit once. PostgreSQL counts in one statement (``count_in_order``), which needs
    no transaction around it: two round trips fewer; what a refusal writes next
    commits statement by statement. The counters' table is UNLOGGED there (abuse
    migration 0003): their writes wait for no disk — a counter is worth no fsync, and
    a crash can lose at most the counts (Redis, where configured, keeps them only in
    memory anyway)."""
    if connection.vendor == "postgresql":
        yield
        return
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
        if rule.cooldown:
            # One bucket per key, its window starting at the hit it lets through.
            window = Window.starting_at(now, seconds=rule.window_seconds)
            yield _Hit(rule=rule, bucket=f"rl:{rule.name}:{value}", window=window)
            continue
        window = Window.at(now, seconds=rule.window_seconds)
        yield _Hit(rule=rule, bucket=f"rl:{rule.name}:{value}:{window.number}", window=window)


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

    def remembered(self, hit: _Hit) -> _Hit:
        """A hit on a bucket it holds, its window ending when the bucket's was seen to
        (a cooldown's: a window after the hit it let through, not after this one)."""
        ends = self._until.get(hit.bucket, hit.window.ends)
        return replace(hit, window=Window(hit.window.number, ends))

    def remember(self, hit: _Hit, now: datetime) -> None:
        with self._lock:
            if len(self._until) >= self.MAX_REMEMBERED:
                self._until = {key: ends for key, ends in self._until.items() if now < ends}
                if len(self._until) >= self.MAX_REMEMBERED:
                    # Full of windows still running (a flood from many addresses): the
                    # store refuses the others, a write each; remembering them all
                    # would grow without bound, and so would this scan.
                    return
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
    per-address rules first). The store counts them so in one go (``count_in_order``:
    on PostgreSQL one statement). A rule this process already saw full in the current
    window refuses without a write; only the rules before it are counted.
    """
    return count_rules(rules, subject, store=store).refusal


@dataclass(frozen=True)
class RulesCounted:
    refusal: Refusal | None
    # The new counts of the ``then`` counters (of those counted: see Count.if_first_of)
    # and the read ones; empty after a refusal.
    counts: dict[str, int]


def count_rules(
    rules: Sequence[Rule],
    subject: Subject,
    *,
    store: CounterStore,
    then: Sequence[Count] = (),
    reading: Sequence[str] = (),
) -> RulesCounted:
    """``hit_rules``, then — if no rule refused — the ``then`` counters, and the
    ``reading`` counters read, all in one ``count_in_order``: the SMS budget of a code
    request is taken with its rate limits (abuse/sms_budget.py)."""
    now = clock.now()
    hits = list(_hits(rules, subject, now=now))
    full = next((i for i, hit in enumerate(hits) if _full_buckets.holds(hit.bucket, now)), None)
    counted_hits = hits if full is None else hits[:full]
    # After a rule this process saw full nothing is counted: it refuses.
    tail = list(then) if full is None else []
    counted = store.count_in_order(
        [Count(hit.bucket, hit.window.ends, hit.rule.limit, restarts=hit.rule.cooldown)
         for hit in counted_hits] + tail,
        reading=reading if full is None else (),
    )
    refused = next(
        # Counted stops after a refusing rule: the rules after it have no count.
        (hit for hit, count in zip(counted_hits, counted.counts, strict=False)
         if count > hit.rule.limit),
        _full_buckets.remembered(hits[full]) if full is not None else None,
    )
    if refused is not None and refused.bucket in counted.ends:
        # A cooldown: its window ends a window after the hit it let through.
        ends = counted.ends[refused.bucket]
        refused = replace(refused, window=Window(refused.window.number, ends))
    if refused is not None:
        _full_buckets.remember(refused, now)
        return RulesCounted(_refusal(refused, now=now), {})
    tail_counts = counted.counts[len(counted_hits) :]
    # A last counter counted only if_first_of another may have no count.
    counts = {count.bucket: value for count, value in zip(tail, tail_counts, strict=False)}
    return RulesCounted(None, counts | counted.read)


def refused_outright(rules: Sequence[Rule], subject: Subject) -> Refusal | None:
    """The refusal of a request whose first rule this process saw full in the current
    window: nothing would be counted, so the store need not be asked."""
    now = clock.now()
    first = next(_hits(rules, subject, now=now), None)  # the later rules' keys: not needed
    if first is not None and _full_buckets.holds(first.bucket, now):
        return _refusal(_full_buckets.remembered(first), now=now)
    return None


def count_hits(rules: Sequence[Rule], subject: Subject, *, store: CounterStore) -> None:
    """Count one hit against every rule, refusing nothing: an attempt already let
    through whose first count was rolled back with its failed action."""
    hits = _hits(rules, subject, now=clock.now())
    store.count_in_order(
        [Count(hit.bucket, hit.window.ends, restarts=hit.rule.cooldown) for hit in hits]
    )


def _refusal(hit: _Hit, *, now: datetime) -> Refusal:
    return Refusal(rule=hit.rule, retry_after_seconds=hit.window.seconds_left(now))


def sweep_expired_counters() -> int:
    """Delete database counters whose window has ended (Redis expires its own)."""
    deleted, _by_model = RateLimitCounter.objects.filter(expires_at__lte=clock.now()).delete()
    return deleted
