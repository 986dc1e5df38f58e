"""Moving an account to a new number: the password, a code to the new number, then the
move — sessions, login throttles, the audit entry, the notice and the SMS to the old
number — and every way it must not happen."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from inviteonly import settings as production_settings
from inviteonly.abuse.models import LoginThrottle
from inviteonly.accounts.actions import do_confirm_phone_change, do_start_phone_change
from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.lib import crypto
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.actions import do_ban_member
from inviteonly.notifications.models import Notification, NotificationKind
from inviteonly.phone_verification.models import PhoneVerification
from tests.conftest import PASSWORD, ApiClient, FrozenClock, SmsOutbox, make_member

pytestmark = pytest.mark.django_db

OLD = "+79161110011"
NEW = "+79162220022"
TAKEN = "+79163330033"
NEW_MASKED = "+7 916 ***-**-22"


def stored(member: Member) -> tuple[str, bytes, str]:
    member.refresh_from_db()
    return member.phone_blind_index, bytes(member.phone_ciphertext), member.phone_masked


def start(client: ApiClient, phone: str = NEW, password: str = PASSWORD) -> Any:
    return client.post("/me/phone", {"password": password, "phone": phone})


def confirm(client: ApiClient, started: Any, code: str) -> Any:
    return client.post("/me/phone/confirm", {
        "verification_token": started.json_body["verification_token"], "code": code,
    })


def test_a_member_moves_to_a_new_number_and_only_it_logs_in_and_recovers(
    sms_outbox: SmsOutbox,
) -> None:
    member = make_member(phone=OLD, display_name="Vera", language="ru")
    here, elsewhere = ApiClient(), ApiClient()
    here.log_in(OLD)
    elsewhere.log_in(OLD)

    started = start(here)
    assert started.status_code == 202, started.json_body
    assert started.json_body["phone_masked"] == NEW_MASKED
    code_sms = sms_outbox.last_text_to(NEW)
    assert "перенос" in code_sms  # the member's language
    moved = confirm(here, started, sms_outbox.code_for(NEW))
    assert moved.status_code == 200, moved.json_body
    assert moved.json_body["phone_masked"] == NEW_MASKED

    member.refresh_from_db()
    assert member.phone_blind_index == crypto.blind_index(NEW)
    assert crypto.decrypt(bytes(member.phone_ciphertext),
                          purpose=crypto.Purpose.PHONE_NUMBER) == NEW
    # This session stays; every other one ended.
    assert here.get("/me").status_code == 200
    assert elsewhere.get("/me").status_code == 401
    # The old number is told, in the member's language, with the new one masked.
    [notice] = [message.text for message in sms_outbox.to(OLD)]
    assert NEW_MASKED in notice and "перенесён" in notice
    assert NEW not in notice and NEW[1:] not in notice and "2220022" not in notice
    # The audit entry and the notice hold masked numbers only.
    entry = AuditEntry.objects.get(action=AuditAction.PHONE_CHANGED)
    assert entry.target_member == member
    assert entry.details == {
        "phone_masked": NEW_MASKED, "previous_phone_masked": "+7 916 ***-**-11",
    }
    assert Notification.objects.filter(member=member, kind=NotificationKind.PHONE_CHANGED).exists()
    assert here.get("/me/notifications").json_body["items"][0]["text"].startswith(
        "Your account moved to a new mobile number"
    )

    # Login: the new number, not the old one.
    assert ApiClient().post("/session", {"phone": OLD, "password": PASSWORD}).status_code == 401
    ApiClient().log_in(NEW)
    # Recovery: the new number gets a code that works; the old one gets nothing.
    sent_to_old = len(sms_outbox.to(OLD))
    ApiClient().post("/recovery", {"phone": OLD})
    assert len(sms_outbox.to(OLD)) == sent_to_old
    recovery = ApiClient().post("/recovery", {"phone": NEW})
    changed = ApiClient().post("/recovery/confirm", {
        "verification_token": recovery.json_body["verification_token"],
        "code": sms_outbox.code_for(NEW), "new_password": "a brand new passphrase",
    })
    assert changed.status_code == 200, changed.json_body
    ApiClient().log_in(NEW, "a brand new passphrase")


def test_failed_logins_of_either_number_do_not_follow_the_move(sms_outbox: SmsOutbox) -> None:
    make_member(phone=OLD)
    member_client = ApiClient()
    member_client.log_in(OLD)
    # Strangers tried passwords on the new number before it was the member's; someone
    # tried the old one too.
    for phone in (NEW, NEW, NEW, NEW, OLD, OLD):
        ApiClient().post("/session", {"phone": phone, "password": "wrong " + PASSWORD})
    assert ApiClient().post("/session", {"phone": NEW, "password": PASSWORD}).json_body[
        "code"] == "login_throttled"
    started = start(member_client)
    assert confirm(member_client, started, sms_outbox.code_for(NEW)).status_code == 200
    assert not LoginThrottle.objects.filter(
        phone_blind_index__in=[crypto.blind_index(OLD), crypto.blind_index(NEW)]
    ).exists()
    ApiClient().log_in(NEW)


def test_the_pages_move_the_member_with_phone_friendly_fields(sms_outbox: SmsOutbox) -> None:
    member = make_member(phone=OLD, language="ru")
    browser = Client()
    assert browser.post("/login/", {"phone": OLD, "password": PASSWORD}).status_code == 302
    other = Client()
    assert other.post("/login/", {"phone": OLD, "password": PASSWORD}).status_code == 302

    assert 'href="/phone/"' in browser.get("/").content.decode()
    page = browser.get("/phone/").content.decode()
    assert "Перенос на новый номер" in page
    phone_input = re.search(r'<input[^>]*name="phone"[^>]*>', page)
    assert phone_input is not None
    assert 'type="tel"' in phone_input.group(0) and 'autocomplete="tel"' in phone_input.group(0)
    assert 'autocomplete="current-password"' in page

    wrong = browser.post("/phone/", {"password": "not it at all", "phone": NEW})
    assert wrong.status_code == 200
    assert "Неверный пароль." in wrong.content.decode()
    sent = browser.post("/phone/", {"password": PASSWORD, "phone": "8 916 222-00-22"})
    assert sent["Location"] == "/phone/confirm/"  # a national number: the old one's country
    code_page = browser.get("/phone/confirm/").content.decode()
    code_input = re.search(r'<input[^>]*name="code"[^>]*>', code_page)
    assert code_input is not None
    assert 'autocomplete="one-time-code"' in code_input.group(0)
    assert 'inputmode="numeric"' in code_input.group(0)

    wrong_code = browser.post("/phone/confirm/", {"code": "000000"})
    assert "Неверный код" in wrong_code.content.decode()
    done = browser.post("/phone/confirm/", {"code": sms_outbox.code_for(NEW)})
    assert done["Location"] == "/"
    home = browser.get("/").content.decode()
    assert "+7 916 ***-**-22" in home
    assert member.phone_blind_index != stored(member)[0] == crypto.blind_index(NEW)
    assert other.get("/").content.decode().count('href="/phone/"') == 0  # logged out
    assert browser.get("/phone/confirm/")["Location"] == "/phone/"  # nothing left to confirm


def test_a_wrong_password_is_refused_and_counted_like_a_failed_login(
    sms_outbox: SmsOutbox,
) -> None:
    member = make_member(phone=OLD)
    client = ApiClient()
    client.log_in(OLD)
    before = stored(member)
    answers = [start(client, password="not it at all") for _ in range(5)]
    assert [answer.status_code for answer in answers] == [403, 403, 403, 403, 429]
    assert answers[0].json_body["code"] == "password_wrong"
    assert answers[0].json_body["field"] == "password"
    assert answers[4].json_body["code"] == "login_throttled"
    # The waits are the number's: its login waits too, with the right password.
    assert ApiClient().post("/session", {"phone": OLD, "password": PASSWORD}).status_code == 429
    assert AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED,
                                     target_member=member).count() == 4
    assert stored(member) == before
    assert sms_outbox.deliver() == []
    assert not PhoneVerification.objects.exists()


def test_wrong_and_expired_codes_change_nothing(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    member = make_member(phone=OLD)
    client, elsewhere = ApiClient(), ApiClient()
    client.log_in(OLD)
    elsewhere.log_in(OLD)
    before = stored(member)
    started = start(client)
    code = sms_outbox.code_for(NEW)
    wrong = confirm(client, started, "000000" if code != "000000" else "111111")
    assert (wrong.status_code, wrong.json_body["code"]) == (400, "code_wrong")
    clock.advance(minutes=11)
    expired = confirm(client, started, code)
    assert (expired.status_code, expired.json_body["code"]) == (410, "code_expired")
    assert stored(member) == before
    assert elsewhere.get("/me").status_code == 200
    assert sms_outbox.to(OLD) == []
    assert not AuditEntry.objects.filter(action=AuditAction.PHONE_CHANGED).exists()


def test_the_same_number_again_is_refused(sms_outbox: SmsOutbox) -> None:
    make_member(phone=OLD)
    client = ApiClient()
    client.log_in(OLD)
    refused = start(client, phone=OLD)
    assert (refused.status_code, refused.json_body["code"]) == (400, "phone_unchanged")
    assert sms_outbox.deliver() == []


def statements(queries: CaptureQueriesContext) -> list[str]:
    """The SQL run, its values blanked (digests, ciphertexts, ids, times differ)."""
    values = r"X?'[^']*'|\"s\d+_x\d+\"|\b\d+(\.\d+)?\b"  # and savepoint names
    return [re.sub(values, "?", query["sql"]) for query in queries.captured_queries]


def shape(body: dict[str, Any]) -> dict[str, Any]:
    return {key: (type(value).__name__ if key in {"verification_token", "expires_at",
                                                  "phone_masked"} else value)
            for key, value in body.items()}


def test_another_members_number_answers_like_a_free_one_and_then_cannot_be_taken(
    sms_outbox: SmsOutbox,
) -> None:
    other = make_member(phone=TAKEN, display_name="Owner")
    member = make_member(phone=OLD)
    client, elsewhere = ApiClient(), ApiClient()
    client.log_in(OLD)
    elsewhere.log_in(OLD)
    before, others_before = stored(member), stored(other)

    answers, runs = [], []
    for phone in (NEW, TAKEN, NEW, TAKEN):
        with CaptureQueriesContext(connection) as queries:
            answers.append(start(client, phone=phone))
        runs.append(statements(queries))
    assert [answer.status_code for answer in answers] == [202] * 4
    assert len({repr(shape(answer.json_body)) for answer in answers}) == 1
    # The same statements for either number (the first request's login throttle row
    # and rate-limit rows are new: compare like with like).
    assert runs[2] == runs[3]
    assert runs[0] == runs[1]
    # Each number got its codes: the owner of the taken one too, like a join's.
    assert len(sms_outbox.to(NEW)) == len(sms_outbox.to(TAKEN)) == 2

    # Only who holds the taken number's phone, by typing its code, learns it is taken
    # (as they could by recovering its password); nothing changes.
    taken = confirm(client, answers[3], sms_outbox.code_for(TAKEN))
    assert (taken.status_code, taken.json_body["code"]) == (409, "phone_taken")
    # Without the code the answer is that of any wrong code.
    wrong = confirm(client, answers[3], "000000" if sms_outbox.code_for(TAKEN) != "000000"
                    else "111111")
    assert (wrong.status_code, wrong.json_body["code"]) == (400, "code_wrong")
    assert stored(member) == before and stored(other) == others_before
    assert elsewhere.get("/me").status_code == 200
    assert sms_outbox.to(OLD) == []
    assert not AuditEntry.objects.filter(action=AuditAction.PHONE_CHANGED).exists()
    ApiClient().log_in(TAKEN)


def test_a_banned_member_cannot_move(sms_outbox: SmsOutbox, founder: Member) -> None:
    member = make_member(phone=OLD)
    client = ApiClient()
    client.log_in(OLD)
    before = stored(member)
    started = start(client)
    code = sms_outbox.code_for(NEW)
    do_ban_member(member=member, moderator=founder, reason="Spam everywhere")
    # The session ended with the ban: the API refuses it.
    assert confirm(client, started, code).status_code == 401
    # And the action itself refuses the banned member, at either step.
    member.refresh_from_db()
    with pytest.raises(ActionError) as confirmed:
        do_confirm_phone_change(
            member=member, verification_token=started.json_body["verification_token"],
            code=code,
        )
    assert confirmed.value.code == "account_restricted"
    with pytest.raises(ActionError) as restarted:
        do_start_phone_change(member=member, password=PASSWORD, phone=NEW)
    assert restarted.value.code == "account_restricted"
    assert stored(member) == before
    assert sms_outbox.to(OLD) == []


def test_a_recovery_code_sent_to_the_old_number_no_longer_recovers(
    sms_outbox: SmsOutbox,
) -> None:
    member = make_member(phone=OLD)
    client = ApiClient()
    client.log_in(OLD)
    # Whoever holds the old SIM asked for a recovery code before the move.
    recovery = ApiClient().post("/recovery", {"phone": OLD})
    old_code = sms_outbox.code_for(OLD)
    started = start(client)
    assert confirm(client, started, sms_outbox.code_for(NEW)).status_code == 200
    password_before = Member.objects.get(id=member.id).password
    refused = ApiClient().post("/recovery/confirm", {
        "verification_token": recovery.json_body["verification_token"],
        "code": old_code, "new_password": "taken over at last",
    })
    assert (refused.status_code, refused.json_body["code"]) == (410, "code_expired")
    assert Member.objects.get(id=member.id).password == password_before
    assert client.get("/me").status_code == 200


def test_a_newer_code_replaces_the_members_own_not_another_members(
    sms_outbox: SmsOutbox,
) -> None:
    make_member(phone=OLD)
    make_member(phone=TAKEN)
    first, second = ApiClient(), ApiClient()
    first.log_in(OLD)
    second.log_in(TAKEN)
    mine = start(first)
    my_code = sms_outbox.code_for(NEW)
    start(second)  # another member asks for a code to the same number
    assert confirm(first, mine, my_code).status_code == 200
    # The member's own newer code replaces their older one.
    again = start(first, phone="+79164440044")
    newer = start(first, phone="+79165550055")
    refused = confirm(first, again, sms_outbox.code_for("+79164440044"))
    assert (refused.status_code, refused.json_body["code"]) == (410, "code_expired")
    assert confirm(first, newer, sms_outbox.code_for("+79165550055")).status_code == 200


def test_codes_to_new_numbers_are_rate_limited_and_take_the_sms_budget(
    sms_outbox: SmsOutbox, clock: FrozenClock,
) -> None:
    clock.current = clock.current.replace(minute=0, second=0)
    member = make_member(phone=OLD)
    client = ApiClient()
    client.log_in(OLD)
    with override_settings(RATE_LIMITS=production_settings.RATE_LIMITS):
        answers = [start(client, phone=f"+7916777000{index}") for index in range(6)]
    assert [answer.status_code for answer in answers] == [202] * 5 + [429]
    assert answers[5].json_body["code"] == "rate_limited"
    assert AuditEntry.objects.get(action=AuditAction.RATE_LIMITED).details == {
        "reason": "phone_change.member.5/86400s"
    }
    with override_settings(SMS_PUMPING_DEFENCE=True):
        # Codes never typed count against the country's unverified budget, as any code.
        budget = [start(client, phone=f"+7916888000{index}") for index in range(4)]
        assert [answer.status_code for answer in budget] == [202, 202, 202, 429]
        assert budget[3].json_body["code"] == "sms_budget_exceeded"
        # The newest code moves the account; the SMS to the old number takes the
        # site-wide breaker's budget, as an invitation's does.
        moved = confirm(client, budget[2], sms_outbox.code_for("+79168880002"))
        assert moved.status_code == 200, moved.json_body
    assert stored(member)[0] == crypto.blind_index("+79168880002")
    assert len(sms_outbox.to(OLD)) == 1


def test_a_password_recovered_while_the_code_is_checked_stops_the_move(
    sms_outbox: SmsOutbox,
) -> None:
    """Someone holding a session and the password races the member's recovery by the old
    number: their request was let in as the member was before the recovery, which ended
    that session. Its move does not go ahead: the account stays where its owner can
    recover it."""
    member = make_member(phone=OLD)
    intruder = ApiClient()
    intruder.log_in(OLD)
    started = start(intruder)
    code = sms_outbox.code_for(NEW)
    before = stored(member)
    # The member as the intruder's request found it, then the recovery commits.
    as_authenticated = Member.objects.get(id=member.id)
    recovery = ApiClient().post("/recovery", {"phone": OLD})
    recovered = ApiClient().post("/recovery/confirm", {
        "verification_token": recovery.json_body["verification_token"],
        "code": sms_outbox.code_for(OLD), "new_password": "the recovered passphrase",
    })
    assert recovered.status_code == 200, recovered.json_body
    with pytest.raises(ActionError) as refused:
        do_confirm_phone_change(
            member=as_authenticated, verification_token=started.json_body["verification_token"],
            code=code, keep_session_key=intruder.token,
        )
    assert (refused.value.code, refused.value.status) == ("code_expired", 410)
    assert stored(member) == before
    assert [message.text for message in sms_outbox.to(OLD) if "+7 916 ***" in message.text] == []
    assert not AuditEntry.objects.filter(action=AuditAction.PHONE_CHANGED).exists()
    assert intruder.get("/me").status_code == 401
    ApiClient().log_in(OLD, "the recovered passphrase")


class StrongerArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2 as a later Django release may tune it: every stored hash "must update"."""

    time_cost = Argon2PasswordHasher.time_cost + 1


def test_a_password_hash_due_for_an_upgrade_does_not_end_the_sessions_of_a_move(
    sms_outbox: SmsOutbox,
) -> None:
    """Checking the password to move must not store it hashed anew, as a login does: the
    new hash would end every session of the member, the one moving it included, and its
    code could never be confirmed."""
    member = make_member(phone=OLD)
    here, elsewhere = ApiClient(), ApiClient()
    here.log_in(OLD)
    elsewhere.log_in(OLD)
    with override_settings(PASSWORD_HASHERS=[
        "tests.test_phone_change.StrongerArgon2PasswordHasher",
        *production_settings.PASSWORD_HASHERS,
    ]):
        started = start(here)
        assert started.status_code == 202, started.json_body
        assert elsewhere.get("/me").status_code == 200
        moved = confirm(here, started, sms_outbox.code_for(NEW))
        assert moved.status_code == 200, moved.json_body
    assert stored(member)[0] == crypto.blind_index(NEW)
    assert here.get("/me").status_code == 200
