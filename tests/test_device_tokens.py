"""Device tokens (OWASP's "Slow Down Online Guessing Attacks with Device Cookies"): a
stranger who fails logins with a member's number locks that number for every client
without a token, while the member's own browser and apps, holding the token of an
earlier login, are throttled per token and still log in. A guesser gains nothing: a
forged, stale or other number's token counts on the number as no token does."""

from __future__ import annotations

import threading
import time
from functools import partial
from http.cookies import Morsel
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from inviteonly.abuse.login_throttle import begin_login_attempt, reset_login_failures_of_number
from inviteonly.abuse.models import DeviceLoginThrottle, LoginThrottle
from inviteonly.accounts.actions import (
    authenticate_member,
    do_confirm_phone_change,
    do_confirm_recovery,
    do_start_phone_change,
    do_start_recovery,
)
from inviteonly.accounts.device_tokens import device_throttle_key
from inviteonly.accounts.models import Member
from inviteonly.invitations.actions import do_invite_by_phone
from inviteonly.lib import crypto
from inviteonly.lib.errors import ActionError
from tests.conftest import PASSWORD, ApiClient, FrozenClock, SmsOutbox, make_member
from tests.test_concurrency import race

pytestmark = pytest.mark.django_db

MEMBER = "+79165550001"
OTHER = "+79165550002"
NEW_NUMBER = "+79165550003"
WRONG = "not the password"


def attempt(phone: str = MEMBER, password: str = WRONG, token: str | None = None) -> str:
    """The outcome of one login attempt: "ok" or the refusal's code."""
    try:
        authenticate_member(phone=phone, password=password, device_token=token)
    except ActionError as refused:
        return refused.code
    return "ok"


def token_of(phone: str = MEMBER, password: str = PASSWORD) -> str:
    return authenticate_member(phone=phone, password=password).device_token


def lock_out(phone: str = MEMBER, clock: FrozenClock | None = None) -> None:
    """A stranger's failures, an hour apart, up to the lockout (12 in these tests)."""
    for _ in range(settings.LOGIN_MAX_CONSECUTIVE_FAILURES):
        assert attempt(phone) == "login_failed"
        if clock is not None:
            clock.advance(hours=1)
    assert attempt(phone) == "login_locked"


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)  # 100 by default; each costs a hash
def test_a_strangers_failures_lock_the_number_but_not_the_members_token(
    clock: FrozenClock,
) -> None:
    make_member(phone=MEMBER)
    token = token_of()
    lock_out(clock=clock)
    assert attempt(password=PASSWORD) == "login_locked"  # an untrusted client
    assert attempt(password=PASSWORD, token=token) == "ok"
    # The success through the token reset the token's count, not the number's.
    assert attempt(password=PASSWORD) == "login_locked"
    assert LoginThrottle.objects.get().consecutive_failures == 12


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_the_members_browser_logs_in_with_its_device_cookie(clock: FrozenClock) -> None:
    make_member(phone=MEMBER)
    browser = Client()
    logged_in = browser.post("/login/", {"phone": MEMBER, "password": PASSWORD})
    assert logged_in.status_code == 302
    cookie: Morsel[Any] = logged_in.cookies[settings.LOGIN_DEVICE_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["max-age"] == int(settings.LOGIN_DEVICE_TOKEN_LIFETIME.total_seconds())
    assert cookie["max-age"] >= 365 * 24 * 3600
    assert not cookie["secure"]  # the tests' BASE_URL is http
    browser.post("/logout/")
    assert settings.LOGIN_DEVICE_COOKIE_NAME in browser.cookies  # logging out keeps it

    stranger = Client()
    for _ in range(12):
        assert stranger.post("/login/", {"phone": MEMBER, "password": WRONG}).status_code == 200
        clock.advance(hours=1)
    locked = stranger.post("/login/", {"phone": MEMBER, "password": PASSWORD})
    assert locked.status_code == 200
    assert "too many failed logins" in locked.content.decode().lower()
    assert settings.LOGIN_DEVICE_COOKIE_NAME not in locked.cookies  # no token on failure
    assert browser.post("/login/", {"phone": MEMBER, "password": PASSWORD}).status_code == 302


def test_the_device_cookie_is_secure_where_the_site_is_https() -> None:
    make_member(phone=MEMBER)
    with override_settings(SESSION_COOKIE_SECURE=True):
        logged_in = Client().post("/login/", {"phone": MEMBER, "password": PASSWORD},
                                  secure=True)
    assert logged_in.cookies[settings.LOGIN_DEVICE_COOKIE_NAME]["secure"]


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_an_api_client_logs_in_with_the_device_token_of_its_last_login(
    clock: FrozenClock,
) -> None:
    make_member(phone=MEMBER)
    first = ApiClient().log_in(MEMBER)
    token = first.json_body["device_token"]
    refused = ApiClient().post("/session", {"phone": MEMBER, "password": WRONG})
    assert refused.status_code == 401 and "device_token" not in refused.json_body
    for _ in range(11):
        clock.advance(hours=1)
        assert attempt() == "login_failed"
    clock.advance(hours=1)
    locked = ApiClient().post("/session", {"phone": MEMBER, "password": PASSWORD})
    assert (locked.status_code, locked.json_body["code"]) == (403, "login_locked")
    again = ApiClient().post(
        "/session", {"phone": MEMBER, "password": PASSWORD, "device_token": token}
    )
    assert again.status_code == 201
    assert again.json_body["device_token"] != token  # a fresh one with every login
    assert ApiClient().post("/session", {
        "phone": MEMBER, "password": PASSWORD, "device_token": again.json_body["device_token"],
    }).status_code == 201


def test_a_guesser_with_a_forged_stale_or_other_numbers_token_is_throttled_as_today(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    member = make_member(phone=MEMBER)
    make_member(phone=OTHER)
    token = token_of()
    others_token = token_of(OTHER)
    issued, nonce, signature = token.split(".")
    forged = [
        f"{issued}.{nonce}.{'0' * 64}",
        f"{int(issued) + 1}.{nonce}.{signature}",
        f"{issued}.{'A' * 22}.{signature}",
        others_token,
        "garbage",
        "",
    ]
    for fake in forged:
        assert device_throttle_key(fake, phone_blind_index=member.phone_blind_index) is None
        assert [attempt(token=fake) for _ in range(5)] == ["login_failed"] * 4 + [
            "login_throttled"
        ], fake
        assert attempt(token=token, password=PASSWORD) == "ok"
        assert attempt(password=PASSWORD) == "login_throttled"  # the number still waits
        clock.advance(hours=2)
        assert attempt(password=PASSWORD) == "ok"

    # Expired: older than its lifetime.
    clock.advance(days=365)
    assert [attempt(token=token) for _ in range(5)] == ["login_failed"] * 4 + [
        "login_throttled"
    ]
    clock.advance(hours=1)
    token = token_of()
    clock.advance(days=364)
    assert attempt(token=token, password=PASSWORD) == "ok"  # still within its lifetime

    # Stale: the member moved to another number, so the old number's token is no
    # token for the new one.
    token = token_of()
    started = do_start_phone_change(member=member, password=PASSWORD, phone=NEW_NUMBER)
    member.refresh_from_db()
    do_confirm_phone_change(
        member=member, verification_id=started.verification.id,
        code=sms_outbox.code_for(NEW_NUMBER),
    )
    assert [attempt(NEW_NUMBER, token=token) for _ in range(5)] == [
        "login_failed"
    ] * 4 + ["login_throttled"]
    # And a token for a number is no token once another member holds it.
    assert device_throttle_key(token, phone_blind_index=crypto.blind_index(MEMBER)) is None
    make_member(phone=MEMBER)
    assert device_throttle_key(token, phone_blind_index=crypto.blind_index(MEMBER)) is None


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_a_tokens_own_failures_make_it_wait_and_then_lock_it(clock: FrozenClock) -> None:
    make_member(phone=MEMBER)
    token = token_of()
    # The token's own waits, the same as a number's.
    assert [attempt(token=token) for _ in range(5)] == ["login_failed"] * 4 + [
        "login_throttled"
    ]
    assert attempt(token=token, password=PASSWORD) == "login_throttled"
    assert attempt(password=PASSWORD) == "ok"  # the number counted none of them
    clock.advance(seconds=30)
    for _ in range(8):
        assert attempt(token=token) == "login_failed"
        clock.advance(hours=1)
    # Locked: now it is no token, and its attempts count on the number.
    assert not LoginThrottle.objects.exists()
    assert [attempt(token=token) for _ in range(5)] == ["login_failed"] * 4 + [
        "login_throttled"
    ]
    assert LoginThrottle.objects.get().consecutive_failures == 4
    assert attempt(token=token, password=PASSWORD) == "login_throttled"


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_a_recovery_unlocks_the_number_and_its_tokens(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    make_member(phone=MEMBER)
    token = token_of()
    for _ in range(12):
        assert attempt(token=token) == "login_failed"
        clock.advance(hours=1)
    lock_out(clock=clock)
    assert DeviceLoginThrottle.objects.count() == LoginThrottle.objects.count() == 1
    started = do_start_recovery(phone=MEMBER)
    do_confirm_recovery(
        verification_id=started.verification.id, code=sms_outbox.code_for(MEMBER),
        new_password="a brand new passphrase",
    )
    assert not DeviceLoginThrottle.objects.exists() and not LoginThrottle.objects.exists()
    assert attempt(token=token, password="a brand new passphrase") == "ok"


def test_answers_are_the_same_for_registered_and_unregistered_numbers() -> None:
    make_member(phone=MEMBER)
    token = token_of()
    answers = []
    for phone in (MEMBER, OTHER):
        for sent in (None, token):
            body = {"phone": phone, "password": WRONG}
            if sent is not None:
                body["device_token"] = sent
            answer = ApiClient().post("/session", body)
            answers.append((answer.status_code, answer.json_body))
    assert len({repr(answer) for answer in answers}) == 1
    assert answers[0][0] == 401


@pytest.mark.django_db(transaction=True)
def test_simultaneous_guesses_with_one_token_are_counted_before_the_password_is_checked(
) -> None:
    make_member(phone=MEMBER)
    token = token_of()
    outcomes = race([partial(fail_quietly, token) for _ in range(12)])
    assert sorted(outcomes) == ["login_failed"] * 4 + ["login_throttled"] * 8
    assert DeviceLoginThrottle.objects.get().consecutive_failures == 4
    assert not LoginThrottle.objects.exists()


def fail_quietly(token: str) -> None:
    authenticate_member(phone=MEMBER, password=WRONG, device_token=token)


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_the_phone_change_password_counts_on_the_browsers_token(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """The password typed again inside a session (a new number, leaving, a password
    change) counts as a login does: on the page's device cookie where it has one."""
    make_member(phone=MEMBER)
    browser = Client()
    assert browser.post("/login/", {"phone": MEMBER, "password": PASSWORD}).status_code == 302
    lock_out(clock=clock)
    sent = browser.post("/phone/", {"password": PASSWORD, "phone": NEW_NUMBER})
    assert sent["Location"] == "/phone/confirm/"
    assert sms_outbox.code_for(NEW_NUMBER)


def test_the_sweep_forgets_tokens_nobody_failed_with_for_thirty_days(
    clock: FrozenClock,
) -> None:
    make_member(phone=MEMBER)
    token = token_of()
    assert attempt(token=token) == "login_failed"
    clock.advance(days=29)
    call_command("sweep", stdout=StringIO())
    assert DeviceLoginThrottle.objects.count() == 1
    clock.advance(days=1, seconds=1)
    call_command("sweep", stdout=StringIO())
    assert not DeviceLoginThrottle.objects.exists()


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_an_api_client_sends_its_device_token_with_the_password_typed_again(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    make_member(phone=MEMBER)
    app = ApiClient()
    token = app.log_in(MEMBER).json_body["device_token"]
    lock_out(clock=clock)
    body = {"password": PASSWORD, "phone": NEW_NUMBER}
    locked = app.post("/me/phone", body)
    assert (locked.status_code, locked.json_body["code"]) == (403, "login_locked")
    assert app.post("/me/phone", {**body, "device_token": token}).status_code == 202
    # A forged token is none: the number's lockout holds.
    altered = token[:-1] + ("1" if token.endswith("0") else "0")
    forged = app.post("/me/phone", {**body, "device_token": altered})
    assert forged.json_body["code"] == "login_locked"


JOINING = "+79165550004"


def join_in_browser(founder: Member, sms_outbox: SmsOutbox) -> tuple[Client, Any]:
    """A newcomer who joins through the pages: the browser and the confirmation's answer."""
    do_invite_by_phone(inviter=founder, phone=JOINING)
    browser = Client()
    started = browser.post(f"/j/{sms_outbox.join_token_for(JOINING)}", {
        "phone": JOINING, "display_name": "Boris", "password": PASSWORD, "language": "en",
    })
    assert started.status_code == 302
    confirmed = browser.post("/join/confirm/", {"code": sms_outbox.code_for(JOINING)})
    assert confirmed.status_code == 302
    return browser, confirmed


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_a_new_members_browser_logs_in_with_the_device_cookie_of_the_join(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """Between joining and the first login a stranger failing with the number cannot
    lock the new member out: the join hands out a token as a login does."""
    browser, joined = join_in_browser(founder, sms_outbox)
    cookie: Morsel[Any] = joined.cookies[settings.LOGIN_DEVICE_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["max-age"] == int(settings.LOGIN_DEVICE_TOKEN_LIFETIME.total_seconds())
    assert device_throttle_key(
        cookie.value, phone_blind_index=crypto.blind_index(JOINING)
    ) is not None
    browser.post("/logout/")
    lock_out(JOINING, clock=clock)
    assert Client().post("/login/", {"phone": JOINING, "password": PASSWORD}).status_code == 200
    assert browser.post("/login/", {"phone": JOINING, "password": PASSWORD}).status_code == 302


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_a_new_members_app_logs_in_with_the_device_token_of_the_join(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    do_invite_by_phone(inviter=founder, phone=JOINING)
    app = ApiClient()
    started = app.post("/join", {
        "token": sms_outbox.join_token_for(JOINING), "phone": JOINING,
        "display_name": "Boris", "password": PASSWORD,
    })
    joined = app.post("/join/confirm", {
        "verification_token": started.json_body["verification_token"],
        "code": sms_outbox.code_for(JOINING),
    })
    assert joined.status_code == 201, joined.json_body
    token = joined.json_body["device_token"]
    lock_out(JOINING, clock=clock)
    body = {"phone": JOINING, "password": PASSWORD}
    assert ApiClient().post("/session", body).json_body["code"] == "login_locked"
    assert ApiClient().post("/session", {**body, "device_token": token}).status_code == 201


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_a_recovery_in_the_browser_hands_it_a_device_cookie(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """The code proved the number: the browser that recovered logs in next, whatever a
    stranger fails with the number after the recovery forgot the earlier failures."""
    make_member(phone=MEMBER)
    browser = Client()
    assert browser.post("/recover/", {"phone": MEMBER}).status_code == 302
    recovered = browser.post("/recover/confirm/", {
        "code": sms_outbox.code_for(MEMBER), "new_password": "a brand new passphrase",
    })
    assert recovered["Location"] == "/login/"
    cookie: Morsel[Any] = recovered.cookies[settings.LOGIN_DEVICE_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    lock_out(clock=clock)
    new = {"phone": MEMBER, "password": "a brand new passphrase"}
    assert Client().post("/login/", new).status_code == 200
    assert browser.post("/login/", new).status_code == 302


def test_a_recovery_hands_out_no_cookie_before_it_succeeds_for_any_number(
    sms_outbox: SmsOutbox,
) -> None:
    make_member(phone=MEMBER)
    for phone in (MEMBER, OTHER):  # OTHER has no account
        browser = Client()
        started = browser.post("/recover/", {"phone": phone})
        wrong = browser.post("/recover/confirm/", {
            "code": "000000", "new_password": "a brand new passphrase",
        })
        assert (started.status_code, wrong.status_code) == (302, 200)
        assert settings.LOGIN_DEVICE_COOKIE_NAME not in started.cookies
        assert settings.LOGIN_DEVICE_COOKIE_NAME not in wrong.cookies
        assert settings.LOGIN_DEVICE_COOKIE_NAME not in browser.cookies


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_an_app_that_recovered_logs_in_with_the_device_token_of_the_recovery(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    make_member(phone=MEMBER)
    app = ApiClient()
    started = app.post("/recovery", {"phone": MEMBER})
    recovered = app.post("/recovery/confirm", {
        "verification_token": started.json_body["verification_token"],
        "code": sms_outbox.code_for(MEMBER), "new_password": "a brand new passphrase",
    })
    assert recovered.status_code == 200, recovered.json_body
    token = recovered.json_body["device_token"]
    lock_out(clock=clock)
    body = {"phone": MEMBER, "password": "a brand new passphrase"}
    assert ApiClient().post("/session", body).json_body["code"] == "login_locked"
    assert ApiClient().post("/session", {**body, "device_token": token}).status_code == 201


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no row locks")
@pytest.mark.django_db(transaction=True)
@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=2)
def test_a_recovery_and_a_login_with_a_locked_token_take_the_rows_in_one_order() -> None:
    """A login with a token at the lockout locks the token's row, then the number's; a
    recovery (or a new number) deletes both: in the other order it would deadlock."""
    make_member(phone=MEMBER)
    token = token_of()
    index = crypto.blind_index(MEMBER)
    key = device_throttle_key(token, phone_blind_index=index)
    assert key is not None
    for _ in range(2):
        assert attempt(token=token) in ("login_failed", "login_throttled")
    DeviceLoginThrottle.objects.filter(device_key=key).update(blocked_until=None)
    LoginThrottle.objects.create(phone_blind_index=index, last_failure_at=timezone.now())
    token_locked = threading.Event()

    def log_in() -> None:
        with transaction.atomic():
            # As begin_login_attempt does first: the token's row.
            DeviceLoginThrottle.objects.select_for_update().get(device_key=key)
            token_locked.set()
            time.sleep(0.5)  # the recovery is under way meanwhile
            begin_login_attempt(index, device_key=key)  # then the number's row

    def recover() -> None:
        token_locked.wait(timeout=10)
        with transaction.atomic():
            reset_login_failures_of_number(index)

    assert sorted(race([log_in, recover])) == ["joined", "joined"]


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_a_token_from_before_a_recovery_is_no_token_after_it(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """Whoever logged in with the old password (a thief too) keeps no token past the
    recovery that replaced it: its attempts count on the number again."""
    make_member(phone=MEMBER)
    stolen = token_of()
    started = do_start_recovery(phone=MEMBER)
    do_confirm_recovery(
        verification_id=started.verification.id, code=sms_outbox.code_for(MEMBER),
        new_password="a brand new passphrase",
    )
    assert device_throttle_key(stolen, phone_blind_index=crypto.blind_index(MEMBER)) is None
    assert attempt(token=stolen) == "login_failed"
    assert LoginThrottle.objects.get().consecutive_failures == 1
    assert not DeviceLoginThrottle.objects.exists()


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_a_password_change_ends_the_other_tokens_and_renews_this_clients(
    clock: FrozenClock,
) -> None:
    make_member(phone=MEMBER)
    other_device = token_of()
    browser = Client()
    browser.post("/login/", {"phone": MEMBER, "password": PASSWORD})
    changed = browser.post("/profile/password/", {
        "current_password": PASSWORD, "new_password": "a brand new passphrase",
    })
    assert changed.status_code == 302
    renewed = changed.cookies[settings.LOGIN_DEVICE_COOKIE_NAME].value
    lock_out(clock=clock)
    assert attempt(token=other_device, password="a brand new passphrase") == "login_locked"
    assert attempt(token=renewed, password="a brand new passphrase") == "ok"
    app = ApiClient()
    session = app.post("/session", {
        "phone": MEMBER, "password": "a brand new passphrase", "device_token": renewed,
    })
    app.token = session.json_body["session_token"]
    answer = app.post("/me/password", {
        "current_password": "a brand new passphrase", "new_password": "yet another passphrase",
        "device_token": session.json_body["device_token"],
    })
    assert answer.status_code == 200
    new_token = answer.json_body["device_token"]
    assert attempt(token=new_token, password="yet another passphrase") == "ok"
    assert attempt(token=renewed, password="yet another passphrase") == "login_locked"
