"""The SMS-pumping defence (abuse/sms_budget.py): per-country caps on codes that are
never verified, scaled by verified traffic; at most three countries per address a day;
a site-wide circuit breaker with an ERROR log and an admin banner. Every refusal is
audit-logged with its rule, gives back what it took and leaves nothing half-written."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from inviteonly.abuse.limiter import RedisStore, Window, get_store
from inviteonly.abuse.models import RateLimitCounter
from inviteonly.abuse.sms_budget import CountryCaps, record_code_verified, sms_budget
from inviteonly.accounts.actions import (
    do_confirm_join,
    do_confirm_recovery,
    do_start_join,
    do_start_recovery,
)
from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.actions import do_invite_by_phone, do_revoke_invitation
from inviteonly.invitations.models import Invitation
from inviteonly.lib.errors import ActionError
from inviteonly.lib.phone_numbers import normalize_phone_number
from inviteonly.phone_verification.models import PhoneVerification
from inviteonly.sms.models import OutboundSms
from tests.conftest import REDIS_URL, ApiClient, FrozenClock, SmsOutbox, make_member
from tests.test_concurrency import race
from tests.test_invitations import invite_and_open

pytestmark = pytest.mark.django_db

RU = [f"+7916555{index:04d}" for index in range(40)]
US = "+14155552671"
GB = "+447400123456"
DE = "+4915112345678"


@pytest.fixture(autouse=True)
def defence_on(clock: FrozenClock) -> Iterator[None]:
    # Windows are fixed: start each test at midnight (UTC), the start of a day window.
    clock.current = datetime(2026, 3, 2, tzinfo=UTC)
    with override_settings(SMS_PUMPING_DEFENCE=True):
        yield


def ask(phone: str, ip: str = "203.0.113.1") -> str:
    """Ask for a recovery code (the same budget as a join code); return the outcome."""
    try:
        do_start_recovery(phone=phone, ip_address=ip)
    except ActionError as error:
        return error.code
    return "sent"


def refusal_rules() -> list[str]:
    return [
        entry.details["reason"]
        for entry in AuditEntry.objects.filter(action=AuditAction.RATE_LIMITED).order_by("id")
    ]


def test_caps_follow_the_busiest_verified_day() -> None:
    assert CountryCaps.from_verified(0) == CountryCaps(daily=20, hourly=3)
    assert CountryCaps.from_verified(99) == CountryCaps(daily=20, hourly=3)
    assert CountryCaps.from_verified(300) == CountryCaps(daily=60, hourly=10)
    assert CountryCaps.from_verified(10_000) == CountryCaps(daily=2000, hourly=333)


def test_a_country_gets_three_unverified_codes_an_hour(clock: FrozenClock) -> None:
    assert [ask(RU[index], ip=f"203.0.113.{index}") for index in range(4)] == (
        ["sent"] * 3 + ["sms_budget_exceeded"]
    )
    assert ask(US) == "sent"  # another country's budget
    assert refusal_rules() == ["sms.country_hourly"]
    entry = AuditEntry.objects.get(action=AuditAction.RATE_LIMITED)
    assert entry.details["region"] == "RU"
    assert entry.ip_address == "203.0.113.3"
    # Nothing half-written for the refused request.
    assert PhoneVerification.objects.count() == OutboundSms.objects.count() == 4
    clock.advance(hours=1)
    assert ask(RU[10]) == "sent"


@override_settings(RATE_LIMITS={"recover": [("ip", 2, 3600)], "send_code": []})
def test_rate_limits_count_first_and_a_request_they_refuse_takes_no_budget() -> None:
    # The rate limits and the budget are taken in one transaction, the limits first.
    assert [ask(RU[index]) for index in range(3)] == ["sent", "sent", "rate_limited"]
    # The refused request took none of the country's three codes an hour.
    assert ask(RU[3], ip="203.0.113.98") == "sent"
    # A request the budget refuses has still been counted by the rate limits.
    assert [ask(RU[4], ip="203.0.113.98"), ask(RU[5], ip="203.0.113.98")] == [
        "sms_budget_exceeded", "rate_limited",
    ]
    assert refusal_rules() == [
        "recover.ip.2/3600s", "sms.country_hourly", "recover.ip.2/3600s",
    ]
    assert PhoneVerification.objects.count() == OutboundSms.objects.count() == 3


def test_a_refusal_names_the_wait_in_the_api(clock: FrozenClock) -> None:
    clock.advance(minutes=15)
    for number in RU[:3]:
        assert ApiClient().post("/recovery", {"phone": number}).status_code == 202
    refused = ApiClient("ru").post("/recovery", {"phone": RU[3]})
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(45 * 60)
    assert refused.json_body["code"] == "sms_budget_exceeded"
    assert refused.json_body["field"] == "phone"
    assert "45 минут" in refused.json_body["detail"]


def test_members_and_strangers_get_the_same_refusal() -> None:
    make_member(phone=RU[0])
    for number in RU[1:4]:
        assert ask(number) == "sent"
    member = ApiClient().post("/recovery", {"phone": RU[0]})
    stranger = ApiClient().post("/recovery", {"phone": RU[4]})
    assert (member.status_code, member.json_body) == (stranger.status_code, stranger.json_body)


def test_verified_codes_free_the_budget(
    sms_outbox: SmsOutbox, django_capture_on_commit_callbacks: Any
) -> None:
    members = [make_member(phone=number) for number in RU[:4]]
    started = do_start_recovery(phone=RU[0])
    for number in RU[1:3]:
        assert ask(number) == "sent"
    assert ask(RU[3]) == "sms_budget_exceeded"
    sms_outbox.deliver()
    with django_capture_on_commit_callbacks(execute=True):
        do_confirm_recovery(
            verification_id=started.verification.id,
            code=sms_outbox.code_for(RU[0]),
            new_password="a brand new passphrase",
        )
    assert ask(RU[3]) == "sent"
    assert Member.objects.filter(id__in=[m.id for m in members]).count() == 4


def test_the_daily_cap_ends_the_day(clock: FrozenClock) -> None:
    outcomes = []
    for hour in range(7):
        outcomes.append([ask(RU[hour * 3 + index]) for index in range(3)])
        clock.advance(hours=1)
    # Three an hour pass until twenty are outstanding today; then only tomorrow.
    assert sum(row.count("sent") for row in outcomes) == 20
    assert outcomes[6] == ["sent", "sent", "sms_budget_exceeded"]
    assert refusal_rules() == ["sms.country_daily"]
    clock.advance(hours=17)  # midnight
    assert ask(RU[30]) == "sent"


def test_a_busy_country_gets_room_to_match_its_traffic(
    clock: FrozenClock, django_capture_on_commit_callbacks: Any
) -> None:
    three_days_ago = clock.current
    clock.advance(days=3)
    now = clock.current
    clock.current = three_days_ago
    # Counted as the transaction commits (here, that of the test).
    with django_capture_on_commit_callbacks(execute=True):
        record_code_verified("RU", count=300)
    clock.current = now
    outcomes = [ask(RU[index], ip=f"198.51.100.{index}") for index in range(11)]
    assert outcomes == ["sent"] * 10 + ["sms_budget_exceeded"]  # 0.2 × 300 / 6 an hour


def test_one_address_may_ask_for_three_countries_a_day() -> None:
    assert [ask(number) for number in (RU[0], US, GB)] == ["sent"] * 3
    assert ask(DE) == "sms_budget_exceeded"
    assert ask(RU[1]) == "sent"  # a country it already asked for
    assert ask(DE, ip="198.51.100.7") == "sent"  # another address
    assert refusal_rules() == ["sms.ip_countries"]
    # The refusal gave its count back: asking again for Germany is still refused.
    assert ask(DE) == "sms_budget_exceeded"


def test_an_ipv6_subscriber_is_one_address() -> None:
    outcomes = [
        ask(number, ip=f"2001:db8:1:2::{index}")
        for index, number in enumerate((RU[0], US, GB, DE))
    ]
    assert outcomes == ["sent"] * 3 + ["sms_budget_exceeded"]


@override_settings(SMS_MAX_PER_HOUR=3)
def test_the_circuit_breaker_stops_every_sms_and_alerts(
    clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    founder = make_member(role=Member.Role.FOUNDER)  # founders are operators (staff)
    admin = Client()
    admin.force_login(founder)
    assert "circuit breaker" not in admin.get("/admin/").content.decode()
    do_invite_by_phone(inviter=founder, phone=RU[0])
    assert ask(US) == "sent"
    assert ask(GB, ip="198.51.100.1") == "sent"
    with caplog.at_level(logging.ERROR, logger="inviteonly.abuse.sms_budget"):
        assert ask(DE, ip="198.51.100.2") == "sms_paused"
        with pytest.raises(ActionError) as refused:
            do_invite_by_phone(inviter=founder, phone=RU[1])
    assert refused.value.status == 429
    assert refused.value.retry_after == 3600
    assert [record.levelname for record in caplog.records] == ["ERROR"]  # once an hour
    assert refusal_rules() == ["sms.global_hourly"] * 2
    assert OutboundSms.objects.count() == 3
    banner = admin.get("/admin/").content.decode()
    assert "SMS circuit breaker" in banner and "01:00" in banner
    # It says UTC, as the log line does, whatever zone the operator reads pages in.
    Member.objects.filter(pk=founder.pk).update(time_zone="Europe/Moscow")
    assert "until 01:00 (UTC)" in admin.get("/admin/").content.decode()
    clock.advance(hours=1)
    assert ask(DE, ip="198.51.100.2") == "sent"
    assert "circuit breaker" not in admin.get("/admin/").content.decode()


def test_the_breaker_refusal_is_translated() -> None:
    with override_settings(SMS_MAX_PER_HOUR=0):
        refused = ApiClient("ru").post("/recovery", {"phone": RU[0]})
    assert refused.status_code == 429
    assert refused.json_body["code"] == "sms_paused"
    assert refused.json_body["detail"].startswith("Мы отправляем необычно много SMS")


@pytest.mark.django_db(transaction=True)
def test_racing_codes_from_an_address_at_its_country_limit_get_no_new_country() -> None:
    """A refused request gives its count of the country back in the transaction that
    took it: no racing request may see the country as already one of the address's
    (its count above one) and so skip the country limit — for the rest of the day."""
    assert [ask(number) for number in (US, GB, DE)] == ["sent"] * 3
    with override_settings(SMS_UNVERIFIED_HOURLY_MIN=100, SMS_UNVERIFIED_DAILY_MIN=100):
        outcomes = race([partial(do_start_recovery, phone=number, ip_address="203.0.113.1")
                         for number in RU[:10]])
        assert outcomes == ["sms_budget_exceeded"] * 10
        assert ask(RU[10]) == "sms_budget_exceeded"
    assert OutboundSms.objects.count() == 3


def _join_with_a_code(founder: Member, sms_outbox: SmsOutbox, phone: str) -> Any:
    """Invite ``phone`` and start its join; return what confirms it."""
    started = do_start_join(
        invitation=invite_and_open(founder, sms_outbox, phone), phone=phone,
        display_name="Boris", password="correct horse 1", language="en",
    )
    return partial(
        do_confirm_join, verification_id=started.verification.id,
        code=sms_outbox.code_for(phone),
    )


def _verified_today(country: str = "RU") -> int:
    counters = RateLimitCounter.objects.filter(bucket__startswith=f"sms:verified:{country}:d:")
    return sum(counters.values_list("count", flat=True))


def test_a_join_counts_its_verified_code_with_its_last_writes(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    confirm = _join_with_a_code(founder, sms_outbox, RU[0])
    with CaptureQueriesContext(connection) as captured:
        confirm()
    counting = [query["sql"] for query in captured.captured_queries
                if RateLimitCounter._meta.db_table in query["sql"]]
    assert len(counting) == 1, counting
    if connection.vendor == "postgresql":
        # In the statement that writes the join's last rows: no round trip of its own.
        assert Member._meta.db_table in counting[0], counting
    assert _verified_today() == 1


def test_a_join_that_fails_at_its_last_writes_counts_no_verified_code(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    confirm = _join_with_a_code(founder, sms_outbox, RU[0])
    # Revoked while the code is typed: the code still works, the invitation not.
    do_revoke_invitation(member=founder, invitation_id=Invitation.objects.get().id)
    with pytest.raises(ActionError) as refused:
        confirm()
    assert refused.value.code == "invitation_used"
    assert _verified_today() == 0
    assert not Member.objects.filter(display_name="Boris").exists()


def fifty_codes_at_once() -> list[str]:
    numbers = [f"+7916777{index:04d}" for index in range(50)]
    with override_settings(SMS_UNVERIFIED_HOURLY_MIN=10):
        outcomes = race(
            [partial(do_start_recovery, phone=number, ip_address=f"198.51.100.{index}")
             for index, number in enumerate(numbers)]
        )
    assert OutboundSms.objects.count() == outcomes.count("joined")  # race's word for success
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_fifty_simultaneous_codes_to_one_country_let_ten_through() -> None:
    outcomes = fifty_codes_at_once()
    assert (outcomes.count("joined"), outcomes.count("sms_budget_exceeded")) == (10, 40)


@pytest.mark.django_db(transaction=True)
def test_fifty_simultaneous_codes_to_one_country_let_ten_through_in_redis(
    redis_store: RedisStore,
) -> None:
    with override_settings(REDIS_URL=REDIS_URL):
        outcomes = fifty_codes_at_once()
        assert (outcomes.count("joined"), outcomes.count("sms_budget_exceeded")) == (10, 40)
    assert any(redis_store.client.scan_iter("sms:sent:RU:*"))


@override_settings(SMS_MAX_PER_HOUR=1)
def test_an_action_refused_after_taking_the_budget_gives_it_back() -> None:
    newcomer = make_member()  # too new to invite: refused inside the action
    with pytest.raises(ActionError) as refused:
        do_invite_by_phone(inviter=newcomer, phone=RU[0])
    assert refused.value.code == "invite_not_allowed"
    founder = make_member(role=Member.Role.FOUNDER)
    do_invite_by_phone(inviter=founder, phone=RU[0])  # the one SMS of the hour
    assert ask(US) == "sms_paused"


@pytest.mark.parametrize("in_redis", [False, True], ids=["database", "redis"])
def test_a_failed_action_keeps_its_country_counted_for_the_address(
    in_redis: bool, request: pytest.FixtureRequest
) -> None:
    """Request A to a new country counts it for the address; B, to the same country
    meanwhile, finds it counted and counts none; then A's action fails. Had A given
    the country back, it would be counted by nobody, for good: one address could
    reach every country this way."""
    if in_redis:
        request.getfixturevalue("redis_store")  # skips without Redis; removes the keys
    with override_settings(REDIS_URL=REDIS_URL if in_redis else ""):
        for first, second in ((RU[0], RU[1]), (US, "+14155552672"), (GB, "+447400123457")):
            with pytest.raises(ActionError, match="the action failed"), sms_budget(
                number=normalize_phone_number(first), ip_address="203.0.113.1", code=True
            ):
                assert ask(second) == "sent"
                raise ActionError("failed", "the action failed")
        assert ask(DE) == "sms_budget_exceeded"
        assert OutboundSms.objects.count() == 3


@pytest.mark.parametrize("in_redis", [False, True], ids=["database", "redis"])
def test_the_verified_codes_read_with_a_budget_free_it(
    in_redis: bool, request: pytest.FixtureRequest, django_capture_on_commit_callbacks: Any,
    clock: FrozenClock,
) -> None:
    # A code's counts and its country's verified codes come back in one round trip.
    if in_redis:
        request.getfixturevalue("redis_store")  # skips without Redis; removes the keys
    with override_settings(REDIS_URL=REDIS_URL if in_redis else ""):
        assert [ask(number) for number in RU[:4]] == ["sent"] * 3 + ["sms_budget_exceeded"]
        with django_capture_on_commit_callbacks(execute=True):
            record_code_verified("RU")
        assert ask(RU[3]) == "sent"
        assert ask(RU[4]) == "sms_budget_exceeded"
        # The refusals gave back what they counted, and only that: the address's one
        # country, counted by its first code alone, stays counted.
        day = Window.at(clock(), seconds=86400).number
        assert get_store().read([f"sms:ip-countries:203.0.113.1:{day}"]) == [1]


@override_settings(RATE_LIMITS={"recover": [("ip", 10, 3600), ("number", 5, 3600)]})
def test_a_code_takes_its_rate_limits_and_budget_and_reads_the_verified_codes_at_once() -> None:
    def counting(phone: str) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert ask(phone) == "sent"
        return [query["sql"] for query in captured.captured_queries
                if RateLimitCounter._meta.db_table in query["sql"]]

    # The address's first country today (it counts one more country for it), then one
    # it asked for already. SQLite has no INSERT in WITH: one upsert, the country
    # counted apart, then a read.
    first, again = counting(RU[0]), counting(RU[1])
    if connection.vendor == "postgresql":
        assert (len(first), len(again)) == (1, 1), (first, again)
    else:
        assert (len(first), len(again)) == (3, 2), (first, again)
    counters = dict(RateLimitCounter.objects.values_list("bucket", "count"))
    assert [count for bucket, count in counters.items()
            if bucket.startswith("sms:ip-countries:")] == [1]


@pytest.mark.django_db(transaction=True)
def test_a_code_racing_a_refused_one_to_a_new_country_gets_no_new_country_in_redis(
    redis_store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis has no row locks: request A, to an address's fourth country, counts it and
    is refused; B, to the same country between A's count and A's giving it back, finds
    the country counted (by A) and counts none. Unless B waits for A, it is let
    through, and every later request to that country too, for the rest of the day."""
    counted = RedisStore.count_in_order
    first_counted, second_done = threading.Event(), threading.Event()

    def count_and_pause(store: RedisStore, *args: Any, **kwargs: Any) -> Any:
        result = counted(store, *args, **kwargs)
        if threading.current_thread().name == "first":
            first_counted.set()
            second_done.wait(timeout=2)  # B's chance to count before A gives back
        return result

    outcomes: dict[str, str] = {}

    def ask_in_thread(phone: str) -> None:
        try:
            outcomes[threading.current_thread().name] = ask(phone)
        finally:
            connection.close()
            if threading.current_thread().name == "second":
                second_done.set()

    with override_settings(REDIS_URL=REDIS_URL, SMS_UNVERIFIED_HOURLY_MIN=100,
                           SMS_UNVERIFIED_DAILY_MIN=100):
        assert [ask(number) for number in (US, GB, DE)] == ["sent"] * 3
        monkeypatch.setattr(RedisStore, "count_in_order", count_and_pause)
        first = threading.Thread(target=ask_in_thread, args=(RU[0],), name="first")
        second = threading.Thread(target=ask_in_thread, args=(RU[1],), name="second")
        first.start()
        assert first_counted.wait(timeout=10)
        second.start()
        first.join(timeout=30)
        second.join(timeout=30)
        assert outcomes == {"first": "sms_budget_exceeded", "second": "sms_budget_exceeded"}
        monkeypatch.undo()
        assert ask(RU[2]) == "sms_budget_exceeded"
    assert OutboundSms.objects.count() == 3
