"""The rate limiter: fixed windows, Retry-After, keys as digests, and exact counting
under concurrency on SQLite, PostgreSQL (whichever the suite runs on) and Redis."""

from __future__ import annotations

import re
import secrets
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.test import Client, RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext

from inviteonly.abuse import limiter
from inviteonly.abuse.actions import describe_wait, enforce_rate_limit, rate_limited_transaction
from inviteonly.abuse.limiter import (
    Count,
    CounterStore,
    DatabaseStore,
    KeyKind,
    RedisStore,
    Rule,
    Subject,
    hit_rules,
    rules_for,
    sweep_expired_counters,
)
from inviteonly.abuse.models import RateLimitCounter
from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.lib.errors import ActionError
from inviteonly.lib.web import client_ip
from tests.conftest import FrozenClock
from tests.test_concurrency import wait_for_a_lock_waiter


def unique_rule(limit: int, window_seconds: int = 3600, key: KeyKind = KeyKind.IP) -> Rule:
    return Rule(action=f"test-{secrets.token_hex(4)}", key=key, limit=limit,
                window_seconds=window_seconds)


def test_rules_come_from_settings() -> None:
    with override_settings(RATE_LIMITS={"login": [("ip", 3, 60), ("number", 5, 3600)]}):
        rules = rules_for("login")
    assert [(rule.key, rule.limit, rule.window_seconds) for rule in rules] == [
        (KeyKind.IP, 3, 60), (KeyKind.NUMBER, 5, 3600)
    ]
    assert rules_for("no-such-action") == []


@pytest.mark.django_db
def test_limit_refuses_with_seconds_until_the_window_ends(clock: FrozenClock) -> None:
    clock.current = clock.current.replace(minute=0, second=0)
    rule = unique_rule(limit=2, window_seconds=3600)
    subject = Subject(ip="192.0.2.1")
    store = DatabaseStore()
    assert hit_rules([rule], subject, store=store) is None
    clock.advance(minutes=10)
    assert hit_rules([rule], subject, store=store) is None
    refusal = hit_rules([rule], subject, store=store)
    assert refusal is not None
    assert refusal.rule == rule
    assert refusal.retry_after_seconds == 50 * 60
    # Another address has its own budget; a new window starts afresh.
    assert hit_rules([rule], Subject(ip="192.0.2.2"), store=store) is None
    clock.advance(minutes=50)
    assert hit_rules([rule], subject, store=store) is None


@pytest.mark.django_db
def test_the_first_refusing_rule_stops_the_count(clock: FrozenClock) -> None:
    """An address over its own limit cannot use up the budget of the number it targets."""
    clock.current = clock.current.replace(minute=0, second=0)
    by_address = unique_rule(2, 3600, key=KeyKind.IP)
    by_number = Rule(action=by_address.action, key=KeyKind.NUMBER, limit=3,
                     window_seconds=3600)
    rules = [by_address, by_number]
    attacker = Subject(ip="203.0.113.66", number="+79161234567")
    outcomes = [hit_rules(rules, attacker, store=DatabaseStore()) for _ in range(10)]
    assert [outcome is None for outcome in outcomes] == [True, True] + [False] * 8
    assert {outcome.rule for outcome in outcomes if outcome} == {by_address}
    owner = Subject(ip="198.51.100.1", number="+79161234567")
    assert hit_rules(rules, owner, store=DatabaseStore()) is None  # the number's 3rd hit


@pytest.mark.django_db
def test_a_refused_first_hit_leaves_no_counter_for_the_later_rules() -> None:
    by_address = unique_rule(limit=0)
    by_number = Rule(action=by_address.action, key=KeyKind.NUMBER, limit=5,
                     window_seconds=3600)
    refusal = hit_rules([by_address, by_number], Subject(ip="192.0.2.3", number="+79161234567"),
                        store=DatabaseStore())
    assert refusal is not None and refusal.rule == by_address
    assert list(RateLimitCounter.objects.values_list("count", flat=True)) == [1]


@pytest.mark.django_db
def test_rules_without_their_key_do_not_count() -> None:
    rule = unique_rule(limit=1, key=KeyKind.MEMBER)
    for _ in range(3):
        assert hit_rules([rule], Subject(ip="192.0.2.1"), store=DatabaseStore()) is None
    assert RateLimitCounter.objects.count() == 0


@pytest.mark.django_db
def test_numbers_are_counted_by_digest_and_prefix_groups_a_block() -> None:
    number_rule = unique_rule(limit=1, key=KeyKind.NUMBER)
    prefix_rule = Rule(action=number_rule.action, key=KeyKind.NUMBER_PREFIX, limit=2,
                       window_seconds=3600)
    store = DatabaseStore()
    rules = [number_rule, prefix_rule]
    assert hit_rules(rules, Subject(number="+79161234567"), store=store) is None
    assert hit_rules(rules, Subject(number="+79161230000"), store=store) is None
    refused = hit_rules(rules, Subject(number="+79161999999"), store=store)
    assert refused is not None and refused.rule == prefix_rule
    buckets = " ".join(RateLimitCounter.objects.values_list("bucket", flat=True))
    assert "9161" not in buckets and "+7" not in buckets


@pytest.mark.django_db
def test_enforcing_uses_the_configured_rules_addresses_first() -> None:
    limits = {
        "probe-code": [("number", 1, 60)],
        "probe-page": [("ip", 1, 60)],
    }
    subject = Subject(ip="192.0.2.9", number="+79161234567")
    with override_settings(RATE_LIMITS=limits):
        enforce_rate_limit(["probe-code", "probe-page"], subject)
        with pytest.raises(ActionError) as refused:
            enforce_rate_limit(["probe-code", "probe-page"], subject)
        # The address rule, listed second, was counted (and refused) first.
        assert refused.value.status == 429
        assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 60
        entry = AuditEntry.objects.get(action=AuditAction.RATE_LIMITED)
        assert entry.details == {"reason": "probe-page.ip.1/60s"}
        # The refused request did not count against the number.
        enforce_rate_limit(["probe-code"], Subject(ip="192.0.2.10", number="+79161230000"))
        number_counts = RateLimitCounter.objects.filter(bucket__startswith="rl:probe-code")
        assert sorted(number_counts.values_list("count", flat=True)) == [1, 1]


@pytest.mark.django_db
def test_sweep_deletes_only_ended_windows(clock: FrozenClock) -> None:
    short, long = unique_rule(5, 60), unique_rule(5, 86400)
    hit_rules([short, long], Subject(ip="192.0.2.1"), store=DatabaseStore())
    clock.advance(minutes=2)
    assert sweep_expired_counters() == 1
    assert RateLimitCounter.objects.count() == 1


@pytest.mark.django_db
def test_the_counters_table_is_unlogged_on_postgresql() -> None:
    # Counting commits without waiting for the disk (abuse migration 0003).
    table = RateLimitCounter._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = %s", [table])
            assert cursor.fetchone() == ("u",)
        else:  # SQLite has no such thing; the table is an ordinary one.
            cursor.execute("SELECT type FROM sqlite_master WHERE name = %s", [table])
            assert cursor.fetchone() == ("table",)


def fifty_at_once(
    store: CounterStore, *, close_connections: bool, rules: list[Rule] | None = None,
    subject: Subject | None = None,
) -> int:
    rules = rules or [unique_rule(limit=10)]
    subject = subject or Subject(ip="198.51.100.7")
    barrier = threading.Barrier(50)
    allowed: list[bool] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            barrier.wait()
            outcome = hit_rules(rules, subject, store=store) is None
        finally:
            if close_connections:
                connection.close()
        with lock:
            allowed.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(allowed) == 50
    return sum(allowed)


@pytest.mark.django_db(transaction=True)
def test_fifty_simultaneous_hits_on_a_limit_of_ten_let_ten_through_in_the_database() -> None:
    assert fifty_at_once(DatabaseStore(), close_connections=True) == 10


@pytest.mark.django_db(transaction=True)
def test_rules_counted_in_one_statement_stay_exact_under_concurrency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database counts a request's rules at once, each only while the ones before
    it let the request through: 50 racing requests leave the counts of one-at-a-time
    counting, and the refused ones leave no trace in the later rule."""
    # Every request reaches the store: none is refused by this process's memory of
    # full windows, which would leave the first rule's count short of 50.
    monkeypatch.setattr(limiter._full_buckets, "holds", lambda _bucket, _now: False)
    by_address = unique_rule(limit=10)
    by_number = Rule(action=by_address.action, key=KeyKind.NUMBER, limit=1000,
                     window_seconds=3600)
    subject = Subject(ip="198.51.100.8", number="+79161234567")
    allowed = fifty_at_once(
        DatabaseStore(), close_connections=True, rules=[by_address, by_number], subject=subject
    )
    assert allowed == 10
    counters = RateLimitCounter.objects.values_list("count", flat=True)
    assert list(counters.filter(bucket__startswith=f"rl:{by_address.name}:")) == [50]
    assert list(counters.filter(bucket__startswith=f"rl:{by_number.name}:")) == [10]


def test_fifty_simultaneous_hits_on_a_limit_of_ten_let_ten_through_in_redis(
    redis_store: RedisStore,
) -> None:
    assert fifty_at_once(redis_store, close_connections=False) == 10
    assert all(
        redis_store.client.ttl(key) > 0 for key in redis_store.client.scan_iter("rl:test-*")
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "1 second"), (59, "59 seconds"), (60, "1 minute"), (61, "2 minutes"),
     (3600, "1 hour"), (3601, "2 hours")],
)
def test_waits_are_said_in_words_rounded_up(seconds: int, text: str) -> None:
    assert describe_wait(seconds) == text


@pytest.mark.django_db
def test_a_refused_hit_does_not_count_in_longer_windows(clock: FrozenClock) -> None:
    """Pressing "resend" ten times in a second uses one SMS of the hour, not ten."""
    clock.current = clock.current.replace(minute=0, second=0)
    cooldown = unique_rule(1, 60, key=KeyKind.NUMBER)
    hourly = Rule(action=cooldown.action, key=KeyKind.NUMBER, limit=3, window_seconds=3600)
    subject = Subject(number="+79161234567")
    outcomes = [hit_rules([cooldown, hourly], subject, store=DatabaseStore()) for _ in range(10)]
    assert [outcome is None for outcome in outcomes] == [True] + [False] * 9
    assert {outcome.rule for outcome in outcomes if outcome} == {cooldown}
    for _ in range(2):
        clock.advance(seconds=60)
        assert hit_rules([cooldown, hourly], subject, store=DatabaseStore()) is None


@pytest.mark.django_db
@pytest.mark.parametrize("in_redis", [False, True], ids=["database", "redis"])
def test_a_cooldown_counts_from_the_hit_it_let_through_not_from_the_clocks_minute(
    in_redis: bool, request: pytest.FixtureRequest, clock: FrozenClock
) -> None:
    """One code a minute per number: two a second apart across a minute boundary are
    refused, and the wait is counted from the code let through."""
    store: CounterStore = request.getfixturevalue("redis_store") if in_redis else DatabaseStore()
    cooldown = unique_rule(1, 60, key=KeyKind.NUMBER)
    hourly = Rule(action=cooldown.action, key=KeyKind.NUMBER, limit=5, window_seconds=3600)
    subject = Subject(number="+79161234567")
    clock.advance(seconds=59)
    assert hit_rules([cooldown, hourly], subject, store=store) is None
    clock.advance(seconds=1)  # the next minute of the clock
    refusal = hit_rules([cooldown, hourly], subject, store=store)
    assert refusal is not None and refusal.rule == cooldown
    if isinstance(store, RedisStore):
        # Redis ends the wait by its own clock, which the test cannot move (the key's
        # time to live): a minute from the hit let through, not from the clock's minute.
        [key] = store.client.scan_iter(f"rl:{cooldown.name}:*")
        assert 58_000 < store.client.pttl(key) <= 60_000
        assert refusal.retry_after_seconds in (59, 60)
        return
    assert refusal.retry_after_seconds == 59
    limiter.forget_full_buckets()  # the store's answer, not this process's memory
    clock.advance(seconds=30)
    refusal = hit_rules([cooldown, hourly], subject, store=store)
    assert refusal is not None and refusal.retry_after_seconds == 29
    clock.advance(seconds=29)
    assert hit_rules([cooldown, hourly], subject, store=store) is None  # a minute since
    # The hourly rule counted the two codes let through, not the refused requests.
    hour = limiter.Window.at(clock.current, seconds=3600)
    [hourly_count] = store.read([
        f"rl:{hourly.name}:{limiter._key_value(hourly, subject)}:{hour.number}"
    ])
    assert hourly_count == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "addresses",
    [
        # An IPv6 subscriber holds a whole /64: three of its addresses are one client.
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2::77", "2001:db8:1:3::1"),
        # A dual-stack listener or proxy reports IPv4 clients as ::ffff:a.b.c.d: all of
        # them in ::/64, they would share one budget.
        ("::ffff:198.51.100.1", "198.51.100.1", "::ffff:198.51.100.1", "::ffff:203.0.113.9"),
    ],
    ids=["ipv6-by-its-64", "ipv4-in-ipv6-form"],
)
def test_an_address_counts_as_its_client(addresses: tuple[str, ...]) -> None:
    """Of the four addresses, the first three are one client (limit 2: the third is
    refused), the fourth another."""
    rule = unique_rule(limit=2)
    store = DatabaseStore()
    refused = [hit_rules([rule], Subject(ip=ip), store=store) is not None for ip in addresses]
    assert refused == [False, False, True, False]


@pytest.mark.parametrize(
    ("proxies", "forwarded", "address"),
    [
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "198.51.100.1, 203.0.113.7:51234", "203.0.113.7"),  # a proxy that adds the port
        (1, "[2001:db8::1]:443", "2001:db8::1"),
        (1, "2001:db8::1", "2001:db8::1"),
        (2, "198.51.100.4, 203.0.113.7", "198.51.100.4"),
        # More proxies counted than stand in front: the client's own entry, if it is no
        # address, is not taken; the nearest proxy's address is.
        (2, "not-an-address, 203.0.113.7", "192.0.2.1"),
        (1, "", "192.0.2.1"),
        (0, "203.0.113.7", "192.0.2.1"),  # no proxy trusted: the header could be forged
    ],
)
def test_the_client_address_behind_proxies_is_an_address(
    proxies: int, forwarded: str, address: str
) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(TRUSTED_PROXY_COUNT=proxies):
        assert client_ip(request) == address


@pytest.mark.django_db
@override_settings(TRUSTED_PROXY_COUNT=1)
def test_a_forwarded_address_with_a_port_is_audited_as_the_address(founder: Member) -> None:
    """PostgreSQL refuses "203.0.113.7:51234" for the audit entry's address: a 500."""
    client = Client(HTTP_X_FORWARDED_FOR="203.0.113.7:51234")
    response = client.post(
        "/api/session", {"phone": "+79160000001", "password": "not the password"},
        content_type="application/json",
    )
    assert response.status_code == 401
    entry = AuditEntry.objects.get(action=AuditAction.LOGIN_FAILED)
    assert entry.ip_address == "203.0.113.7"


@pytest.mark.django_db
def test_a_rate_limited_transaction_keeps_the_hit_of_a_failed_action() -> None:
    """The hits share the action's transaction; an action that fails rolls back its own
    writes, and its attempt still counts — up to the refusal, where it does not run."""
    limits = {"probe-action": [("ip", 2, 60), ("number", 5, 60)]}
    subject = Subject(ip="192.0.2.20", number="+79161234567")
    ran = []
    with override_settings(RATE_LIMITS=limits):
        for _ in range(2):
            with (
                pytest.raises(ActionError, match="probe failed"),
                rate_limited_transaction(["probe-action"], subject),
            ):
                ran.append(AuditEntry.objects.create(action=AuditAction.LOGGED_OUT))
                raise ActionError("probe", "probe failed")
        with (
            pytest.raises(ActionError) as refused,
            rate_limited_transaction(["probe-action"], subject),
        ):
            ran.append(AuditEntry.objects.create(action=AuditAction.LOGGED_OUT))
    assert refused.value.status == 429 and len(ran) == 2
    # The failed actions' writes are gone; the refusal's audit entry stayed.
    assert list(AuditEntry.objects.values_list("action", flat=True)) == [
        AuditAction.RATE_LIMITED
    ]
    counts = RateLimitCounter.objects.values_list("count", flat=True)
    assert list(counts.filter(bucket__startswith="rl:probe-action.ip.")) == [3]
    assert list(counts.filter(bucket__startswith="rl:probe-action.number.")) == [2]


@pytest.mark.django_db
def test_a_full_window_refuses_without_a_write_until_it_ends(clock: FrozenClock) -> None:
    clock.current = clock.current.replace(minute=0, second=0)
    wide = unique_rule(100)  # counted before the full rule, as one at a time would
    full = unique_rule(1, key=KeyKind.NUMBER)
    subject = Subject(ip="192.0.2.77", number="+79161230077")
    store = DatabaseStore()
    assert hit_rules([wide, full], subject, store=store) is None
    assert hit_rules([wide, full], subject, store=store) is not None
    with CaptureQueriesContext(connection) as captured:
        refusal = hit_rules([full], subject, store=store)
        again = hit_rules([wide, full], subject, store=store)
    assert refusal is not None and refusal.rule == full
    assert again is not None and again.rule == full
    assert refusal.retry_after_seconds == 3600
    # Only the rule before the full one was written (one statement); asking about the
    # full rule alone asked the store nothing.
    assert len(captured.captured_queries) == 1
    assert RateLimitCounter._meta.db_table in captured.captured_queries[0]["sql"]
    counts = sorted(RateLimitCounter.objects.values_list("count", flat=True))
    assert counts == [2, 3]  # the full rule stayed at its first refusal; wide: 3 hits
    clock.advance(hours=1)
    assert hit_rules([wide, full], subject, store=store) is None


@pytest.mark.django_db
def test_a_flood_from_a_full_address_writes_only_its_audit_entries(clock: FrozenClock) -> None:
    clock.current = clock.current.replace(minute=0, second=0)
    limits = {"probe-flood": [("ip", 2, 3600), ("number", 100, 3600)]}
    subject = Subject(ip="192.0.2.78", number="+79161230078")
    with override_settings(RATE_LIMITS=limits):
        for _ in range(2):
            enforce_rate_limit(["probe-flood"], subject)
        with pytest.raises(ActionError):
            enforce_rate_limit(["probe-flood"], subject)
        with CaptureQueriesContext(connection) as captured, pytest.raises(ActionError) as refused:
            enforce_rate_limit(["probe-flood"], subject)
    assert refused.value.retry_after == 3600
    written = [query["sql"] for query in captured.captured_queries
               if not query["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(written) == 1 and "audit_log_auditentry" in written[0]
    assert AuditEntry.objects.filter(action=AuditAction.RATE_LIMITED).count() == 2


def query_plan(sql: str) -> list[str]:
    """The lines of ``sql``'s plan: PostgreSQL's EXPLAIN, SQLite's EXPLAIN QUERY PLAN."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"EXPLAIN {sql}")
            return [line for (line,) in cursor.fetchall()]
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return [row[-1] for row in cursor.fetchall()]


def full_scans(sql: str, table: str) -> list[str]:
    """The lines of ``sql``'s plan that read the whole of ``table`` instead of an index
    (a one-row common table expression may be scanned: it is no table)."""
    if connection.vendor == "postgresql":
        return [line for line in query_plan(sql) if f"Seq Scan on {table}" in line]
    return [line for line in query_plan(sql) if re.match(rf"SCAN {table}\b", line)]


@pytest.mark.django_db
def test_reading_counts_looks_each_bucket_up_by_its_key(clock: FrozenClock) -> None:
    now = clock()
    RateLimitCounter.objects.bulk_create(
        [RateLimitCounter(bucket=f"other:{n}", count=1, expires_at=now + timedelta(hours=1))
         for n in range(3000)]
        + [RateLimitCounter(bucket="live", count=7, expires_at=now + timedelta(hours=1)),
           RateLimitCounter(bucket="ended", count=5, expires_at=now - timedelta(seconds=1))]
    )
    with connection.cursor() as cursor:  # what the planner then knows of the table
        cursor.execute(f"ANALYZE {RateLimitCounter._meta.db_table}")
    # As many buckets as a code's SMS budget reads (abuse/sms_budget.py).
    buckets = ["live", "ended", "never counted", *(f"other:{n}" for n in range(13))]
    with CaptureQueriesContext(connection) as queries:
        counts = DatabaseStore().read(buckets)
    assert counts == [7, 0, 0, *[1] * 13]
    # Not a scan of every counter, however few the planner thinks there are.
    (read,) = queries.captured_queries
    assert full_scans(read["sql"], RateLimitCounter._meta.db_table) == []


@pytest.mark.django_db
@pytest.mark.parametrize("in_redis", [False, True], ids=["database", "redis"])
def test_counting_in_order_stops_after_the_first_counter_over_its_limit(
    in_redis: bool, request: pytest.FixtureRequest, clock: FrozenClock
) -> None:
    store: CounterStore = request.getfixturevalue("redis_store") if in_redis else DatabaseStore()
    ends = clock() + timedelta(hours=1)
    a, b, c, d, e, unread = (f"rl:test-{secrets.token_hex(4)}" for _ in range(6))
    store.increment(b, expires_at=ends)
    counted = store.count_in_order(
        [Count(a, ends, limit=5), Count(b, ends, limit=1), Count(c, ends)], reading=[unread]
    )
    # b went over its limit: it counted, and c after it did not.
    assert counted.counts == [1, 2]
    assert counted.read == {unread: 0}
    assert store.read([a, b, c]) == [1, 2, 0]
    # Counters without a limit, and those within theirs, all count.
    assert store.count_in_order([Count(d, ends, limit=1), Count(e, ends)]).counts == [1, 1]
    assert store.count_in_order([Count(d, ends), Count(e, ends)], reading=[a]).read == {a: 1}


@pytest.mark.django_db
@pytest.mark.parametrize("in_redis", [False, True], ids=["database", "redis"])
@pytest.mark.parametrize("twice", [False, True], ids=["distinct", "listed-twice"])
def test_a_counter_counted_if_first_of_another_counts_distinct_values(
    in_redis: bool, twice: bool, request: pytest.FixtureRequest, clock: FrozenClock
) -> None:
    store: CounterStore = request.getfixturevalue("redis_store") if in_redis else DatabaseStore()
    ends = clock() + timedelta(hours=1)
    tag = secrets.token_hex(4)
    gate, distinct = f"rl:test-{tag}-gate", f"rl:test-{tag}-distinct"
    # ``twice``: a counter listed twice takes the database store's one-by-one path.
    extra = [Count(f"rl:test-{tag}-extra", ends)] * (2 if twice else 0)

    def count(value: str, *, gate_limit: int = 100) -> list[int]:
        pair = f"rl:test-{tag}-pair-{value}"
        return store.count_in_order([
            Count(gate, ends, limit=gate_limit), *extra, Count(pair, ends),
            Count(distinct, ends, if_first_of=pair),
        ]).counts

    # Counted when the value is new in the window, and only then.
    assert count("RU")[-2:] == [1, 1]
    assert count("RU")[-1:] == [2]  # the pair's count; nothing for ``distinct``
    assert count("US")[-2:] == [1, 2]
    assert store.read([distinct]) == [2]
    # Nothing after a counter over its limit, the conditional one included.
    assert len(count("DE", gate_limit=1)) == 1
    assert store.read([distinct, f"rl:test-{tag}-pair-DE"]) == [2, 0]
    with pytest.raises(AssertionError, match="only the last"):
        store.count_in_order([Count(distinct, ends, if_first_of=gate), Count(gate, ends)])


LOCK_ROW = "SELECT 1 FROM abuse_ratelimitcounter WHERE bucket = %s"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no row locks")
def test_giving_back_takes_the_rows_one_by_one_in_the_order_given(clock: FrozenClock) -> None:
    """Counts given back after their count committed (an action that failed after
    taking its SMS budget) lock their rows in the order given — the order they were
    counted in, as every count takes them. An UPDATE … WHERE bucket IN (…) took them in
    an order of its own (the table's, or the names') and deadlocked with racing
    counts."""
    store = DatabaseStore()
    ends = clock() + timedelta(hours=1)
    tag = secrets.token_hex(4)
    # Given back in this order; stored, and named, the other way round.
    first, middle, last = (f"rl:test-{tag}-{letter}" for letter in "cba")
    for bucket in (last, middle, first):
        store.increment(bucket, expires_at=ends)
    locked, release = threading.Event(), threading.Event()

    def hold_middle() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"{LOCK_ROW} FOR UPDATE", [middle])
                locked.set()
                release.wait(20)
        finally:
            connection.close()

    def give_back() -> None:
        try:
            store.take_back([first, middle, last])
        finally:
            connection.close()

    holder, giver = threading.Thread(target=hold_middle), threading.Thread(target=give_back)
    holder.start()
    assert locked.wait(20)
    giver.start()
    try:
        wait_for_a_lock_waiter()  # the give-back, at the middle row

        def free(bucket: str) -> bool:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"{LOCK_ROW} FOR UPDATE NOWAIT", [bucket])
            except OperationalError:
                return False
            return True

        assert not free(first)  # taken back already, its lock held
        assert free(last)  # not reached yet
    finally:
        release.set()
        holder.join(30)
        giver.join(30)
    assert store.read([first, middle, last]) == [0, 0, 0]


@pytest.mark.django_db
def test_the_memory_of_full_windows_stays_within_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flood of refused keys (one IPv6 subscriber holds 65,536 /64s in a /48) made
    the memory grow past its bound, each refusal then scanning all of it under a lock
    that every refusal of the process takes. Past the bound it remembers no more; the
    store still refuses what it does not remember."""
    monkeypatch.setattr(limiter._FullBuckets, "MAX_REMEMBERED", 3)
    rule = unique_rule(limit=1)
    store = DatabaseStore()
    addresses = [f"2001:db8:0:{index:x}::1" for index in range(6)]
    for address in addresses:
        assert hit_rules([rule], Subject(ip=address), store=store) is None
        assert hit_rules([rule], Subject(ip=address), store=store) is not None
    assert len(limiter._full_buckets._until) == 3
    assert all(hit_rules([rule], Subject(ip=address), store=store) is not None
               for address in addresses)


def test_a_count_given_back_after_its_window_ended_leaves_no_key_in_redis(
    redis_store: RedisStore, clock: FrozenClock
) -> None:
    """An SMS budget is given back after the action failed, which may be after the
    hour ended and Redis expired the counter. DECR made the key anew, at -1 and with
    no time to live: kept for good, where the database sweeps its ended rows."""
    ends = clock() + timedelta(hours=1)
    ended, running = (f"rl:test-{secrets.token_hex(4)}" for _ in range(2))
    redis_store.increment(ended, expires_at=ends)
    redis_store.increment(running, expires_at=ends, by=2)
    redis_store.client.delete(ended)  # as Redis does when its time to live runs out
    redis_store.take_back([ended, running])
    assert redis_store.client.exists(ended) == 0
    assert redis_store.read([running]) == [1]
    assert redis_store.client.ttl(running) > 0


@pytest.mark.django_db
@pytest.mark.parametrize(("proxies", "remote"), [(0, "192.0.2.1"), (1, "10.0.0.2")])
def test_a_forged_forwarded_address_does_not_dodge_the_login_limit(
    settings: Any, proxies: int, remote: str
) -> None:
    """A client writes what it likes in X-Forwarded-For; only what the trusted proxies
    appended (none trusted: the connection's address) counts. Each try names another
    address and another number (no number's own throttle), all from one client."""
    settings.TRUSTED_PROXY_COUNT = proxies
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": [("ip", 3, 600)]}
    statuses = []
    for attempt in range(4):
        # What the client sent, then (behind a proxy) what the proxy appended.
        forged = f"198.51.100.{attempt}"
        forwarded = forged if proxies == 0 else f"{forged}, 203.0.113.7"
        response = Client(REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded).post(
            "/api/session", {"phone": f"+7916555000{attempt}", "password": "a guess"},
            content_type="application/json",
        )
        statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429]
    client = "192.0.2.1" if proxies == 0 else "203.0.113.7"
    assert set(AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED)
               .values_list("ip_address", flat=True)) == {client}
