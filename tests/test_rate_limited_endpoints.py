"""The real rate limits (settings.RATE_LIMITS) on pages and in the API: 429 with
Retry-After, a translated message saying when, an audit entry naming the rule."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from inviteonly import settings as production_settings
from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from tests.conftest import ApiClient, FrozenClock, SmsOutbox, make_member

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("production_rate_limits"),
]


@pytest.fixture
def production_rate_limits(clock: FrozenClock) -> object:
    # Windows are fixed: start each test at the top of an hour.
    clock.current = clock.current.replace(minute=0, second=0)
    with override_settings(RATE_LIMITS=production_settings.RATE_LIMITS):
        yield


def test_resend_cooldown_in_the_api(sms_outbox: SmsOutbox, clock: FrozenClock) -> None:
    make_member(phone="+79165550001")
    first = ApiClient().post("/recovery", {"phone": "+79165550001"})
    assert first.status_code == 202
    clock.advance(seconds=20)
    second = ApiClient("ru").post("/recovery", {"phone": "+79165550001"})
    assert second.status_code == 429
    assert second["Retry-After"] == "40"
    assert second.json_body["code"] == "rate_limited"
    assert second.json_body["detail"] == "Слишком много попыток. Попробуйте снова через 40 секунд."
    assert len(sms_outbox.deliver()) == 1
    entry = AuditEntry.objects.get(action=AuditAction.RATE_LIMITED)
    assert entry.details == {"reason": "send_code.number.1/60s"}
    clock.advance(seconds=40)
    assert ApiClient().post("/recovery", {"phone": "+79165550001"}).status_code == 202


def test_five_codes_an_hour_per_number(sms_outbox: SmsOutbox, clock: FrozenClock) -> None:
    statuses = []
    for _ in range(6):
        statuses.append(ApiClient().post("/recovery", {"phone": "+79165550009"}).status_code)
        clock.advance(minutes=1, seconds=1)
    assert statuses == [202] * 5 + [429]


def test_login_page_from_one_address_is_limited(founder: Member) -> None:
    client = Client()
    for index in range(30):  # a different number each time: only the address limit applies
        response = client.post("/login/", {"phone": f"+7916555{index:04d}", "password": "x"})
        assert response.status_code == 200
    limited = client.post("/login/", {"phone": "+79160000001", "password": "wrong one"})
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) == 600
    assert "Try again in 10 minutes" in limited.content.decode()


def test_guessing_codes_of_many_numbers_from_one_address_is_limited() -> None:
    statuses = []
    for index in range(7):  # 7 numbers × 5 tries: past the address's 30 per 10 minutes
        started = ApiClient().post("/recovery", {"phone": f"+7916555{index:04d}"})
        assert started.status_code == 202, started.json_body
        for _ in range(5):
            confirm = ApiClient().post("/recovery/confirm", {
                "verification_token": started.json_body["verification_token"],
                "code": "000000", "new_password": "a brand new passphrase",
            })
            statuses.append(confirm.status_code)
    assert statuses[:30].count(429) == 0
    assert set(statuses[30:]) == {429}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_invitation_sms_to_one_number_three_a_day_members_numbers_alike(
    founder: Member, sms_outbox: SmsOutbox, clock: FrozenClock, language: str
) -> None:
    """Invitations are counted per number (whoever sends them), so neither inviting and
    revoking in a loop nor many inviters can flood one phone; a member's number, which
    gets no SMS, is counted and refused exactly alike."""
    make_member(phone="+79165550001")
    inviters = []
    for phone in ("+79160000001", "+79165550099"):
        if phone != "+79160000001":
            make_member(phone=phone, role=Member.Role.MODERATOR)
        inviters.append(ApiClient(language))
        inviters[-1].log_in(phone)
    answers: dict[str, list[int]] = {}
    for number in ("+79165550001", "+79165550002"):  # a member's, a stranger's
        answers[number] = []
        for attempt in range(4):
            clock.advance(minutes=1)
            inviter = inviters[attempt % 2]
            invited = inviter.post("/invitations", {"phone": number})
            answers[number].append(invited.status_code)
            if invited.status_code == 201:
                revoked = inviter.post(f"/invitations/{invited.json_body['id']}/revoke")
                assert revoked.status_code == 200
    assert answers["+79165550001"] == answers["+79165550002"] == [201, 201, 201, 429]
    assert invited["Retry-After"] == str(24 * 3600 - 8 * 60)
    assert invited.json_body["detail"] == {
        "en": "Too many attempts. Try again in 24 hours.",
        "ru": "Слишком много попыток. Попробуйте снова через 24 часа.",
    }[language]
    assert len(sms_outbox.to("+79165550002")) == 3
    assert sms_outbox.to("+79165550001") == []
    reasons = [entry.details["reason"] for entry in AuditEntry.objects.filter(
        action=AuditAction.RATE_LIMITED)]
    assert reasons == ["invite.number.3/86400s"] * 2
    # Another number is not held up, and the next day the number may be invited again.
    assert inviters[0].post("/invitations", {"phone": "+79165550003"}).status_code == 201
    clock.advance(days=1)
    assert inviters[0].post("/invitations", {"phone": "+79165550002"}).status_code == 201
