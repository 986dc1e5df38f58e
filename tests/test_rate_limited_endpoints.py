"""The real rate limits (settings.RATE_LIMITS) on pages and in the API: 429 with
Retry-After, a translated message saying when, an audit entry naming the rule."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from inviteonly import settings as production_settings
from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.actions import do_invite_by_phone
from inviteonly.sms.models import OutboundSms
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


def test_two_codes_a_second_apart_across_a_minute_boundary_are_refused(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    """The cooldown is a minute since the last code to the number, not one code per
    minute of the clock: a code at 00:59 and another at 01:00 would be a second apart."""
    make_member(phone="+79165550001")
    clock.advance(seconds=59)
    assert ApiClient().post("/recovery", {"phone": "+79165550001"}).status_code == 202
    waits = []
    for step in (1, 58):
        clock.advance(seconds=step)
        refused = ApiClient().post("/recovery", {"phone": "+79165550001"})
        assert refused.status_code == 429
        waits.append(refused["Retry-After"])
    assert waits == ["59", "1"]
    assert len(sms_outbox.deliver()) == 1
    clock.advance(seconds=1)  # a minute since the code
    assert ApiClient().post("/recovery", {"phone": "+79165550001"}).status_code == 202
    assert len(sms_outbox.deliver()) == 1


def test_a_join_link_does_not_tell_its_number_by_the_cooldown_recovery_started(
    founder: Member, sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    """A link holder who asks for recovery for a number, then joins with it through
    the link (or the other way round), gets the same answers whether or not the link
    was sent to that number: joins through a link count in that link's counters."""
    invited, other = "+79161234567", "+79165550009"
    do_invite_by_phone(inviter=founder, phone=invited)
    token = sms_outbox.join_token_for(invited)

    def join(phone: str) -> int:
        return ApiClient().post("/join", {
            "token": token, "phone": phone, "display_name": "Eve",
            "password": "correct horse battery", "language": "en",
        }).status_code

    def recover(phone: str) -> int:
        return ApiClient().post("/recovery", {"phone": phone}).status_code

    answers = {}
    for phone in (invited, other):
        answers[phone] = [recover(phone), join(phone)]
        clock.advance(seconds=61)
        answers[phone] += [join(phone), recover(phone)]
        clock.advance(seconds=61)
    assert answers[invited] == answers[other] == [202, 202, 202, 202]
    # The invited number's own cooldown still holds, through the link.
    assert join(invited) == 202 and join(invited) == 429


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


def test_invitation_sms_to_one_number_three_a_day_then_sent_unseen_members_numbers_alike(
    founder: Member, sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    """Invitation SMS are counted per number (whoever sends them), so neither inviting
    and revoking in a loop nor many inviters can flood one phone. Past three a day an
    invitation is not refused: it is answered like any other and its SMS is queued
    suppressed, as a member's number's always is, so nobody learns that someone else
    invited the number today. An invitation that fails is not counted."""
    make_member(phone="+79165550001")
    inviters = []
    for phone in ("+79160000001", "+79165550099"):
        if phone != "+79160000001":
            make_member(phone=phone, role=Member.Role.MODERATOR)
        inviters.append(ApiClient())
        inviters[-1].log_in(phone)
    answers: dict[str, list[tuple[int, list[str], str]]] = {}
    for number in ("+79165550001", "+79165550002"):  # a member's, a stranger's
        answers[number] = []
        for attempt in range(4):
            clock.advance(minutes=1)
            inviter = inviters[attempt % 2]
            invited = inviter.post("/invitations", {"phone": number})
            answers[number].append(
                (invited.status_code, sorted(invited.json_body), invited.json_body["state"])
            )
            if attempt == 0:  # refused: not an invitation SMS, so not counted
                again = inviter.post("/invitations", {"phone": number})
                assert (again.status_code, again.json_body["code"]) == (
                    409, "invitation_pending"
                )
            sms_outbox.deliver()  # sent at once, as by the worker: revoked later
            revoked = inviter.post(f"/invitations/{invited.json_body['id']}/revoke")
            assert revoked.status_code == 200
    assert answers["+79165550001"] == answers["+79165550002"] == [answers["+79165550002"][0]] * 4
    assert answers["+79165550002"][0][0] == 201
    assert len(sms_outbox.to("+79165550002")) == 3
    assert sms_outbox.to("+79165550001") == []
    queued = OutboundSms.objects.order_by("id")
    assert list(queued.filter(recipient_masked="+7 916 ***-**-02").values_list(
        "suppressed", flat=True)) == [False, False, False, True]
    assert list(queued.filter(recipient_masked="+7 916 ***-**-01").values_list(
        "suppressed", flat=True)) == [True] * 4
    # Operators read why the fourth SMS was not sent.
    reasons = [entry.details["reason"] for entry in AuditEntry.objects.filter(
        action=AuditAction.RATE_LIMITED)]
    assert reasons == ["invitation_sms.number.3/86400s"] * 2
    # Another number is not held up, and the next day the number gets SMS again.
    assert inviters[0].post("/invitations", {"phone": "+79165550003"}).status_code == 201
    assert len(sms_outbox.to("+79165550003")) == 1
    clock.advance(days=1)
    assert inviters[0].post("/invitations", {"phone": "+79165550002"}).status_code == 201
    assert len(sms_outbox.to("+79165550002")) == 4


@pytest.mark.parametrize("language", ["en", "ru"])
def test_avatar_uploads_ten_an_hour_per_member_counted_before_decoding(
    clock: FrozenClock, language: str
) -> None:
    """Decoding an upload is what costs (a small PNG can hold 25 MP): each member has
    ten an hour, in the API and on the profile page alike, and a refused upload is not
    even looked at."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from inviteonly.social.models import Profile
    from tests.social_helpers import member_with_api
    from tests.test_input_avatars import _encoded
    from tests.test_input_avatars import _upload as _upload_avatar

    def _picture(colour: str) -> bytes:
        return _encoded(Image.new("RGB", (64, 64), colour), "PNG")

    anna, api = member_with_api("Anna", language=language)
    page = Client(HTTP_ACCEPT_LANGUAGE=language)
    page.force_login(anna)
    statuses = [_upload_avatar(api, _picture("blue"), "me.png").status_code for _ in range(5)]
    for _ in range(5):
        picture = SimpleUploadedFile("me.png", _picture("blue"))
        statuses.append(page.post("/profile/avatar", {"avatar": picture}).status_code)
    assert statuses == [200] * 5 + [302] * 5
    stored = Profile.objects.get(member=anna).avatar
    clock.advance(minutes=30)
    # Not a picture at all: refused for the count, before anyone decodes it.
    refused = _upload_avatar(api, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "me.png")
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(30 * 60)
    assert refused.json()["detail"] == {
        "en": "Too many attempts. Try again in 30 minutes.",
        "ru": "Слишком много попыток. Попробуйте снова через 30 минут.",
    }[language]
    on_the_page = page.post("/profile/avatar", {
        "avatar": SimpleUploadedFile("me.png", _picture("red")),
    }, follow=True)
    assert {"en": "Too many attempts. Try again in 30 minutes.",
            "ru": "Слишком много попыток. Попробуйте снова через 30 минут."}[language] in (
        on_the_page.content.decode())
    assert Profile.objects.get(member=anna).avatar == stored
    reasons = [entry.details["reason"] for entry in AuditEntry.objects.filter(
        action=AuditAction.RATE_LIMITED)]
    assert reasons == ["avatar.member.10/3600s"] * 2
    # Another member is not held up; the next hour Anna may upload again.
    _boris, boris_api = member_with_api("Boris")
    assert _upload_avatar(boris_api, _picture("green"), "me.png").status_code == 200
    clock.advance(minutes=30)
    assert _upload_avatar(api, _picture("red"), "me.png").status_code == 200
