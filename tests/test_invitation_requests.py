"""Invitation requests: people who know no member ask privately; members who may
invite see the note, country, language and age — never a contact — and vouch or grant;
granting makes them the inviter and sends the invitation SMS; requests expire."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import partial
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django.utils.translation import gettext

from inviteonly import settings as production_settings
from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitation_requests.actions import (
    do_grant_invitation_request,
    do_request_invitation,
    do_vouch_for_request,
    do_withdraw_invitation_request,
)
from inviteonly.invitation_requests.models import InvitationRequest, Vouch
from inviteonly.invitation_requests.queries import open_requests_for
from inviteonly.invitations.actions import do_revoke_invitation
from inviteonly.invitations.allowance import allowance_of
from inviteonly.invitations.models import Invitation, InviteAllowance
from inviteonly.invitations.queries import access_invitation_by_token
from inviteonly.lib import crypto
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.actions import do_ban_member
from inviteonly.sms.models import OutboundSms
from inviteonly.social.models import Profile
from tests.conftest import PASSWORD, ApiClient, FrozenClock, SmsOutbox, make_member
from tests.test_concurrency import race

pytestmark = pytest.mark.django_db

ASKER = "+79161112233"
OTHER_ASKER = "+79161112299"
GRANTER = "+79165550000"
DAY = timedelta(days=1)
NOTE = "Anna's neighbour, I play chess on Thursdays"


def ask(api: ApiClient | None = None, **changes: str) -> Any:
    body = {"phone": ASKER, "note": NOTE, "language": "ru", **changes}
    return (api or ApiClient()).post("/invitation-requests", body)


def test_asking_sends_nothing_and_gives_a_status_token(sms_outbox: SmsOutbox) -> None:
    asked = ask()
    assert asked.status_code == 201, asked.json_body
    assert asked.json_body["state"] == "waiting"
    status = ApiClient().post(
        "/invitation-requests/status", {"status_token": asked.json_body["status_token"]}
    )
    assert status.status_code == 200
    assert status.json_body["state"] == "waiting"
    assert OutboundSms.objects.count() == 0
    request = InvitationRequest.objects.get()
    assert request.listed and request.region == "RU" and request.language == "ru"
    assert AuditEntry.objects.filter(action=AuditAction.INVITATION_REQUESTED).count() == 1


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"note": "  "}, "note_required", "note"),
        ({"note": "x" * 501}, "invalid_request", "note"),
        ({"phone": "+7 800 555-35-35"}, "phone_not_mobile", "phone"),
        ({"language": "de"}, "language_unknown", "language"),
        # Members read the note: no contact in it, however it is written.
        ({"note": "Anna's neighbour, call me: +7 916 123-45-67"}, "note_has_contact", "note"),
        ({"note": "Anna's neighbour, 8 (916) 123-45-67"}, "note_has_contact", "note"),
        ({"note": "Anna's neighbour, 89161234567"}, "note_has_contact", "note"),
        ({"note": "Write to ivan.petrov@example.de"}, "note_has_contact", "note"),
        ({"note": "Write to ivan\uff20example.de"}, "note_has_contact", "note"),
        ({"note": "Find me at t.me/ivan_petrov"}, "note_has_contact", "note"),
        ({"note": "My page: https://example.org/ivan"}, "note_has_contact", "note"),
        ({"note": "Telegram: @ivan_petrov"}, "note_has_contact", "note"),
        ({"note": "Write to ivan@gmail"}, "note_has_contact", "note"),
    ],
)
def test_a_bad_request_is_refused_and_leaves_nothing(
    changes: dict[str, str], code: str, field: str
) -> None:
    refused = ask(ApiClient("ru"), **changes)
    assert refused.status_code in (400, 422)
    assert (refused.json_body["code"], refused.json_body["field"]) == (code, field)
    assert refused.json_body["detail"]
    assert InvitationRequest.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_a_note_with_numbers_that_are_no_contact_is_taken() -> None:
    asked = ask(note="Chess since 2019, rated 1850; 3 kids, flat 12, since 12.05.2020")
    assert asked.status_code == 201, asked.json_body


def test_a_note_with_an_at_sign_that_is_no_contact_is_taken() -> None:
    asked = ask(phone=OTHER_ASKER, note="I work @ Yandex, a c@t lover, 2@3 on Fridays")
    assert asked.status_code == 201, asked.json_body


def test_a_long_note_in_the_action_is_refused_with_the_limit() -> None:
    with pytest.raises(ActionError) as refused:
        do_request_invitation(phone=ASKER, note="x" * 501, language="en")
    assert refused.value.code == "note_too_long"
    assert "500" in str(refused.value.message)


def test_members_numbers_and_repeats_answer_alike_and_are_listed_alike(founder: Member) -> None:
    make_member(phone="+79162223344")
    answers = [ask(), ask(), ask(phone="+79162223344", note="A note its writer will know")]
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    assert {tuple(sorted(answer.json_body)) for answer in answers} == {
        ("created_at", "expires_at", "granted_at", "invitation_undelivered_at",
         "invitation_withdrawn_at", "state", "status_token")
    }
    # Leaving any of them out would tell whoever asked for a member's number with a note
    # they would recognise, then read the list, that it is a member's.
    assert [request.listed for request in InvitationRequest.objects.order_by("id")] == [
        True, True, True
    ]
    member = ApiClient()
    member.log_in("+79160000001")
    listed = member.get("/invitation-requests").json_body
    assert len(listed["items"]) == 3
    assert "A note its writer will know" in [item["note"] for item in listed["items"]]


def test_members_see_no_contact_details(founder: Member) -> None:
    ask()
    member = ApiClient("ru")
    member.log_in("+79160000001")
    listed = member.get("/invitation-requests").json_body["items"]
    assert len(listed) == 1
    assert set(listed[0]) == {"id", "note", "region", "country", "language", "created_at",
                              "expires_at", "vouches", "vouched_by_me"}
    assert listed[0]["country"] == "Россия"
    assert listed[0]["note"] == NOTE
    page = Client(HTTP_ACCEPT_LANGUAGE="en")
    page.force_login(founder)
    html = page.get("/requests/").content.decode()
    assert NOTE.replace("'", "&#x27;") in html and "Russia · Russian ·" in html
    for shown in ("1112233", "111-22-33", "***-**-33", "+7 916"):
        assert shown not in html
    russian_page = Client(HTTP_ACCEPT_LANGUAGE="ru")
    russian_page.force_login(founder)
    assert "Россия · Русский ·" in russian_page.get("/requests/").content.decode()
    ask(phone="+79161112234", language="en")
    assert "Россия · Английский ·" in russian_page.get("/requests/").content.decode()


def test_only_members_who_may_invite_see_requests(clock: FrozenClock) -> None:
    ask()
    newcomer = make_member(phone="+79163334455")
    api = ApiClient()
    api.log_in("+79163334455")
    assert api.get("/invitation-requests").status_code == 403
    page = Client()
    page.force_login(newcomer)
    assert "data-testid=\"request\"" not in page.get("/requests/").content.decode()
    with pytest.raises(ActionError):
        do_vouch_for_request(member=newcomer, request_id=InvitationRequest.objects.get().id)


def test_vouching_counts_each_member_once(founder: Member) -> None:
    ask()
    request = InvitationRequest.objects.get()
    moderator = make_member(role=Member.Role.MODERATOR)
    assert do_vouch_for_request(member=founder, request_id=request.id) == 1
    assert do_vouch_for_request(member=founder, request_id=request.id) == 1
    assert do_vouch_for_request(member=moderator, request_id=request.id) == 2
    api = ApiClient()
    api.log_in("+79160000001")
    (item,) = api.get("/invitation-requests").json_body["items"]
    assert (item["vouches"], item["vouched_by_me"]) == (2, True)


def test_granting_invites_in_the_askers_language_and_the_granter_is_the_inviter(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    token = ask().json_body["status_token"]
    request = InvitationRequest.objects.get()
    api = ApiClient()
    api.log_in("+79160000001")
    granted = api.post(f"/invitation-requests/{request.id}/grant")
    assert granted.status_code == 201, granted.json_body
    invitation = Invitation.objects.get()
    assert invitation.inviter == founder
    text = sms_outbox.last_text_to(ASKER)
    assert "приглашает" in text
    status = ApiClient().post("/invitation-requests/status", {"status_token": token})
    assert status.json_body["state"] == "granted"
    again = api.post(f"/invitation-requests/{request.id}/grant")
    assert (again.status_code, again.json_body["code"]) == (410, "request_not_open")
    assert Invitation.objects.count() == 1
    assert len(api.get("/invitation-requests").json_body["items"]) == 0
    assert AuditEntry.objects.filter(
        action=AuditAction.INVITATION_REQUEST_GRANTED, actor=founder, invitation=invitation
    ).exists()

    # The asker joins through the link in the SMS; the granter is their inviter.
    newcomer = ApiClient("ru")
    join_token = sms_outbox.join_token_for(ASKER)
    started = newcomer.post("/join", {"token": join_token, "phone": ASKER, "language": "ru",
                                      "display_name": "Vera", "password": PASSWORD})
    assert started.status_code == 202, started.json_body
    joined = newcomer.post("/join/confirm", {
        "verification_token": started.json_body["verification_token"],
        "code": sms_outbox.code_for(ASKER),
    })
    assert joined.status_code == 201, joined.json_body
    assert Member.objects.get(display_name="Vera").invited_by == founder


def test_a_request_expires_after_thirty_days(founder: Member, clock: FrozenClock) -> None:
    token = ask().json_body["status_token"]
    request = InvitationRequest.objects.get()
    clock.advance(days=30)
    status = ApiClient().post("/invitation-requests/status", {"status_token": token})
    assert status.json_body["state"] == "expired"
    with pytest.raises(ActionError) as refused:
        do_grant_invitation_request(member=founder, request_id=request.id)
    assert refused.value.code == "request_not_open"
    # The number may ask again, and only the new request is open.
    ask()
    assert open_requests_for(founder).get().id != request.id
    clock.advance(days=31)
    output = StringIO()
    call_command("sweep", stdout=output)
    assert ", 1 invitation requests " in output.getvalue()


def test_page_flow_in_russian(founder: Member, sms_outbox: SmsOutbox) -> None:
    asker = Client(HTTP_ACCEPT_LANGUAGE="ru")
    page = asker.get("/ask/").content.decode()
    assert "Попросить приглашение" in page
    sent = asker.post("/ask/", {"phone": "8 916 111-22-33", "note": NOTE, "language": "ru"})
    assert sent.status_code == 302
    status = asker.get(sent["Location"]).content.decode()
    assert "Ждёт участника" in status
    granter = Client(HTTP_ACCEPT_LANGUAGE="ru")
    granter.force_login(founder)
    request = InvitationRequest.objects.get()
    assert granter.post(f"/requests/{request.id}/vouch").status_code == 302
    assert Vouch.objects.filter(request=request, member=founder).exists()
    done = granter.post(f"/requests/{request.id}/grant", follow=True).content.decode()
    assert "Приглашение отправлено" in done
    assert "приглашает" in sms_outbox.last_text_to(ASKER)
    assert "Приглашение отправлено" in asker.get(sent["Location"]).content.decode()


def test_an_unknown_status_link_is_a_translated_404() -> None:
    answer = Client(HTTP_ACCEPT_LANGUAGE="ru").get("/ask/not-a-real-token")
    assert answer.status_code == 404
    assert "Нет запроса" in answer.content.decode()


def test_asking_is_rate_limited(clock: FrozenClock) -> None:
    clock.current = clock.current.replace(hour=0, minute=0, second=0)
    with override_settings(RATE_LIMITS=production_settings.RATE_LIMITS):
        statuses = [ask(phone=f"+7916444{index:04d}").status_code for index in range(6)]
    assert statuses == [201] * 5 + [429]


def test_notes_refused_before_a_good_one_use_up_no_asking(clock: FrozenClock) -> None:
    """A requester told to leave out their number, then a link, may still ask: a note
    the form refuses is no request (the number may ask twice a day)."""
    clock.current = clock.current.replace(hour=0, minute=0, second=0)
    with override_settings(RATE_LIMITS=production_settings.RATE_LIMITS):
        refused = [ask(note=note).json_body["code"] for note in (
            "Call me: 8 916 111-22-33", "My page: vk.com/anna", "", "Write to anna@mail.ru",
        )]
        asked = ask()
    assert refused == ["note_has_contact", "note_has_contact", "note_required",
                       "note_has_contact"]
    assert asked.status_code == 201, asked.json_body
    assert InvitationRequest.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_ten_members_granting_one_request_at_once_send_one_invitation() -> None:
    do_request_invitation(phone=ASKER, note=NOTE, language="en")
    request = InvitationRequest.objects.get()
    granters = [make_member(role=Member.Role.MODERATOR) for _ in range(10)]
    outcomes = race([
        partial(do_grant_invitation_request, member=member, request_id=request.id)
        for member in granters
    ])
    assert outcomes.count("joined") == 1  # race()'s word for success
    assert outcomes.count("request_not_open") == 9
    assert Invitation.objects.count() == 1
    assert OutboundSms.objects.count() == 1
    request.refresh_from_db()
    assert request.invitation is not None and request.granted_by is not None
    assert request.granted_at == request.invitation.created_at
    assert request.expires_at - request.created_at == timedelta(days=30)


def test_a_member_with_no_invitation_left_may_read_and_vouch_but_not_grant(
    clock: FrozenClock,
) -> None:
    ask()
    request = InvitationRequest.objects.get()
    member = make_member(joined_at=clock.current - timedelta(days=60))
    InviteAllowance.objects.create(member=member, earned_from=clock.current)  # none left
    assert open_requests_for(member).count() == 1
    assert do_vouch_for_request(member=member, request_id=request.id) == 1
    with pytest.raises(ActionError) as refused:
        do_grant_invitation_request(member=member, request_id=request.id)
    assert refused.value.code == "no_invitations_left"
    assert Invitation.objects.count() == 0
    request.refresh_from_db()
    assert request.granted_at is None and request.listed


def granter_api(clock: FrozenClock, language: str = "en") -> ApiClient:
    """A member with five invitations, logged in to the API."""
    make_member(phone=GRANTER, joined_at=clock.current - 60 * DAY)
    api = ApiClient(language)
    api.log_in(GRANTER)
    return api


def request_id_of(phone: str) -> int:
    return InvitationRequest.objects.get(phone_blind_index=crypto.blind_index(phone)).id


def test_revoking_a_granted_invitation_puts_the_request_back_on_the_list(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    status_token = ask().json_body["status_token"]
    api = granter_api(clock)
    granter = Member.objects.get(display_name="Member")
    (listed,) = api.get("/invitation-requests").json_body["items"]
    granted = api.post(f"/invitation-requests/{listed['id']}/grant")
    assert granted.status_code == 201, granted.json_body
    dead_link = sms_outbox.join_token_for(ASKER)
    assert len(api.get("/invitation-requests").json_body["items"]) == 0
    clock.advance(hours=1)
    revoked = api.post(f"/invitations/{granted.json_body['id']}/revoke")
    assert revoked.status_code == 200, revoked.json_body
    # The request waits again, for everyone, with its vouches and its age...
    assert [item["id"] for item in api.get("/invitation-requests").json_body["items"]] == [
        listed["id"]
    ]
    status = ApiClient().post("/invitation-requests/status", {"status_token": status_token})
    assert status.json_body["state"] == "waiting"
    assert status.json_body["granted_at"] is None
    assert status.json_body["invitation_withdrawn_at"] == clock.current.isoformat().replace(
        "+00:00", "Z"
    )
    # ...its requester reads why the link in their SMS is dead...
    for language, said in (
        ("en", "withdrew the invitation"), ("ru", "отозвал приглашение")
    ):
        page = Client(HTTP_ACCEPT_LANGUAGE=language).get(f"/ask/{status_token}").content.decode()
        assert 'data-state="waiting"' in page and said in page
    with pytest.raises(ActionError) as dead:
        access_invitation_by_token(dead_link)
    assert dead.value.code == "invitation_revoked"
    # ...and the granter's invitation stays spent until it would have expired.
    assert allowance_of(granter, moment=clock.current).available == 4
    # Another member grants it, and the requester is invited after all.
    again = ApiClient()
    again.log_in("+79160000001")
    assert again.post(f"/invitation-requests/{listed['id']}/grant").status_code == 201
    status = ApiClient().post("/invitation-requests/status", {"status_token": status_token})
    assert status.json_body["state"] == "granted"
    assert len(sms_outbox.to(ASKER)) == 2
    assert InvitationRequest.objects.get().invitation == Invitation.objects.get(inviter=founder)


def test_an_expired_request_stays_off_the_list_when_its_invitation_is_revoked(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    ask()
    request = InvitationRequest.objects.get()
    clock.advance(days=29)
    invitation = do_grant_invitation_request(member=founder, request_id=request.id)
    clock.advance(days=2)
    do_revoke_invitation(member=founder, invitation_id=invitation.id)
    request.refresh_from_db()
    assert not request.listed and request.granted_at is None
    assert open_requests_for(founder).count() == 0
    # The number may ask again, and that request is the listed one.
    ask()
    assert InvitationRequest.objects.filter(listed=True).count() == 1


@pytest.mark.parametrize(
    ("language", "from_request", "revoked"),
    [
        ("en", "From an invitation request",
         "The invitation you sent on a request is revoked; its link no longer works. "
         "The request waits for members again, unless it has expired."),
        ("ru", "По запросу на приглашение",
         "Приглашение, отправленное по запросу, отозвано: его ссылка больше не работает. "
         "Запрос снова ждёт участников, если его срок не истёк."),
    ],
)
def test_an_invitation_from_a_request_never_shows_the_number(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox,
    language: str, from_request: str, revoked: str,
) -> None:
    ask()
    api = granter_api(clock, language)
    granted = api.post(f"/invitation-requests/{request_id_of(ASKER)}/grant")
    assert granted.status_code == 201
    assert granted.json_body["phone_masked"] is None
    assert granted.json_body["from_request"] is True
    direct = api.post("/invitations", {"phone": "+79167654321"})
    assert (direct.json_body["phone_masked"], direct.json_body["from_request"]) == (
        "+7 916 ***-**-21", False
    )
    mine = api.get("/invitations").json_body["items"]
    assert [(item["phone_masked"], item["from_request"]) for item in mine] == [
        ("+7 916 ***-**-21", False), (None, True)
    ]
    page = Client(HTTP_ACCEPT_LANGUAGE=language)
    page.force_login(Member.objects.get(display_name="Member"))
    listing = page.get("/invitations/").content.decode()
    assert from_request in listing and "***-**-21" in listing
    after = page.post(f"/invitations/{granted.json_body['id']}/revoke/", follow=True)
    html = after.content.decode()
    assert revoked in html
    for shown in ("***-**-33", "1112233", "111-22-33"):
        assert shown not in listing and shown not in html
    revoked_answer = api.post(f"/invitations/{direct.json_body['id']}/revoke")
    assert revoked_answer.json_body["phone_masked"] == "+7 916 ***-**-21"


def test_granting_answers_alike_whatever_the_granter_invited_before(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """A member who suspects whose request it is cannot confirm it by inviting that
    number directly, before or after granting: every answer is the success's."""
    ask()
    ask(phone=OTHER_ASKER)
    api = granter_api(clock)
    assert api.post("/invitations", {"phone": ASKER}).status_code == 201
    suspected = api.post(f"/invitation-requests/{request_id_of(ASKER)}/grant")
    other = api.post(f"/invitation-requests/{request_id_of(OTHER_ASKER)}/grant")
    assert suspected.status_code == other.status_code == 201, suspected.json_body
    assert set(suspected.json_body) == set(other.json_body)
    assert len(sms_outbox.to(ASKER)) == 2
    # After a grant, inviting the number directly is not "already invited" either.
    assert api.post("/invitations", {"phone": OTHER_ASKER}).status_code == 201
    pending = api.post("/invitations", {"phone": ASKER})  # the direct one is pending
    assert (pending.status_code, pending.json_body["code"]) == (409, "invitation_pending")


def test_a_number_that_joined_stays_on_the_list_and_granting_it_names_nobody(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    ask(note="I left a violent home, please")
    ask(phone=OTHER_ASKER)
    api = granter_api(clock)
    assert len(api.get("/invitation-requests").json_body["items"]) == 2
    # The requester got in through someone else and lets members find them by number.
    olga = make_member(phone=ASKER, display_name="Olga Petrova", invited_by=founder)
    Profile.objects.create(member=olga, findable_by_phone=True)
    # The list does not change (leaving her request out would tell that its number is a
    # member's), and it never names anyone.
    assert len(api.get("/invitation-requests").json_body["items"]) == 2
    page = Client()
    page.force_login(founder)
    assert "Olga" not in page.get("/requests/").content.decode()
    # Granted, it answers like any request: no name, no SMS, and the same statements
    # (after a first invitation, which creates the allowance row).
    assert api.post("/invitations", {"phone": "+79167654321"}).status_code == 201
    olgas_request = request_id_of(ASKER)
    listed = {"id": request_id_of(OTHER_ASKER)}
    with CaptureQueriesContext(connection) as members_number:
        joined = api.post(f"/invitation-requests/{olgas_request}/grant")
    with CaptureQueriesContext(connection) as strangers_number:
        stranger = api.post(f"/invitation-requests/{listed['id']}/grant")
    assert joined.status_code == stranger.status_code == 201, joined.json_body
    assert "Olga" not in joined.content.decode()
    assert {key: type(value) for key, value in joined.json_body.items()} == {
        key: type(value) for key, value in stranger.json_body.items()
    }
    assert len(members_number.captured_queries) == len(strangers_number.captured_queries)
    assert sms_outbox.to(ASKER) == []
    assert len(sms_outbox.to(OTHER_ASKER)) == 1


@pytest.mark.parametrize(
    ("regions", "language", "refusal"),
    [
        ({"PHONE_DENIED_REGIONS": ["UA"]}, "en",
         "This site does not accept phone numbers from this country."),
        ({"PHONE_ALLOWED_REGIONS": ["RU"]}, "ru",
         "Этот сайт не принимает номера телефонов из этой страны."),
    ],
)
def test_a_request_from_a_country_refused_since_cannot_be_granted(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox,
    regions: dict[str, list[str]], language: str, refusal: str,
) -> None:
    ask(phone="+380501234567")  # asked while Ukraine was accepted
    api = granter_api(clock, language)
    request_id = request_id_of("+380501234567")
    with override_settings(**regions):
        refused = api.post(f"/invitation-requests/{request_id}/grant")
    assert refused.status_code == 400
    assert (refused.json_body["code"], refused.json_body["detail"]) == (
        "phone_region_refused", refusal
    )
    assert Invitation.objects.count() == OutboundSms.objects.count() == 0
    assert allowance_of(Member.objects.get(display_name="Member"),
                        moment=clock.current).available == 5
    assert InvitationRequest.objects.get().granted_at is None
    # Accepted again, the request can be granted.
    assert api.post(f"/invitation-requests/{request_id}/grant").status_code == 201


def test_direct_invitations_and_grants_share_a_numbers_daily_sms_and_never_refuse(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """Direct invitations and grants count in one daily count per number, and nothing
    refuses because of it: past three, an invitation or a grant is answered like any
    other and its SMS is queued suppressed (the link is never sent)."""
    ask()
    api = ApiClient()
    api.log_in("+79160000001")
    request_id = request_id_of(ASKER)
    answers = []
    with override_settings(RATE_LIMITS=production_settings.RATE_LIMITS):
        for path in ("direct", "grant", "direct", "grant", "direct"):
            sent = (
                api.post("/invitations", {"phone": ASKER}) if path == "direct"
                else api.post(f"/invitation-requests/{request_id}/grant")
            )
            answers.append(sent.status_code)
            sms_outbox.deliver()  # as the worker does at once: revoked later, it was sent
            assert api.post(f"/invitations/{sent.json_body['id']}/revoke").status_code == 200
    assert answers == [201] * 5
    assert len(sms_outbox.to(ASKER)) == 3
    assert list(OutboundSms.objects.order_by("id").values_list("suppressed", flat=True)) == [
        False, False, False, True, True
    ]
    assert [entry.details["reason"] for entry in AuditEntry.objects.filter(
        action=AuditAction.RATE_LIMITED)] == ["invitation_sms.number.3/86400s"] * 2


def test_a_numbers_daily_sms_cap_tells_nobody_whose_request_it_is(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """The probe a reviewer found: grant an anonymous request and revoke it three times
    (a founder spends no allowance; revoking puts the request back), then ask for a
    number you suspect is its asker's and grant that. The grant answers alike, with the
    same statements, whether the suspect is the asker's number or not: only the SMS,
    which the prober never sees, differs."""
    ask()
    api = ApiClient()
    api.log_in("+79160000001")
    target = request_id_of(ASKER)
    probes = {}
    with override_settings(RATE_LIMITS=production_settings.RATE_LIMITS):
        for _ in range(3):
            granted = api.post(f"/invitation-requests/{target}/grant")
            assert granted.status_code == 201, granted.json_body
            sms_outbox.deliver()  # as the worker does at once: revoked later, it was sent
            assert api.post(f"/invitations/{granted.json_body['id']}/revoke").status_code == 200
        for suspect in (OTHER_ASKER, ASKER):
            assert ask(phone=suspect, note="Probe").status_code == 201
            probe = InvitationRequest.objects.get(
                phone_blind_index=crypto.blind_index(suspect), note="Probe"
            )
            with CaptureQueriesContext(connection) as work:
                answer = api.post(f"/invitation-requests/{probe.id}/grant")
            body = {key: value for key, value in answer.json_body.items() if key != "id"}
            probes[suspect] = (answer.status_code, body, len(work))
    assert probes[ASKER] == probes[OTHER_ASKER]
    assert probes[ASKER][0] == 201
    assert len(sms_outbox.to(OTHER_ASKER)) == 1
    assert len(sms_outbox.to(ASKER)) == 3  # the fourth is queued, suppressed
    (entry,) = AuditEntry.objects.filter(action=AuditAction.RATE_LIMITED)
    assert entry.details == {"reason": "invitation_sms.number.3/86400s"}


def test_a_ban_puts_back_the_requests_the_banned_member_granted(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """A ban revokes the banned member's invitations; those sent on requests put their
    requests back on the list, as their inviter's own revocation does: otherwise a
    request stays "granted", off every list, with a dead link until it expires."""
    status_token = ask().json_body["status_token"]
    ask(phone=OTHER_ASKER)
    api = granter_api(clock)
    granter = Member.objects.get(phone_blind_index=crypto.blind_index(GRANTER))
    mine, founders = request_id_of(ASKER), request_id_of(OTHER_ASKER)
    assert api.post(f"/invitation-requests/{mine}/grant").status_code == 201
    assert do_grant_invitation_request(member=founder, request_id=founders)
    dead_link = sms_outbox.join_token_for(ASKER)
    clock.advance(hours=1)
    moderator = make_member(role=Member.Role.MODERATOR, display_name="Mod")
    do_ban_member(member=granter, moderator=moderator, reason="Spam", for_spam=True)
    assert [request.id for request in open_requests_for(founder)] == [mine]
    status = ApiClient().post("/invitation-requests/status", {"status_token": status_token})
    assert (status.json_body["state"], status.json_body["granted_at"]) == ("waiting", None)
    assert status.json_body["invitation_withdrawn_at"] == clock.current.isoformat().replace(
        "+00:00", "Z"
    )
    for language, said in (("en", "withdrew the invitation"), ("ru", "отозвал приглашение")):
        page = Client(HTTP_ACCEPT_LANGUAGE=language).get(f"/ask/{status_token}").content.decode()
        assert 'data-state="waiting"' in page and said in page
    with pytest.raises(ActionError) as dead:
        access_invitation_by_token(dead_link)
    assert dead.value.code == "invitation_revoked"
    # The founder's grant is not the banned member's: it stands.
    assert InvitationRequest.objects.get(id=founders).invitation is not None
    # Granted again by someone else, the requester is invited after all.
    again = do_grant_invitation_request(member=founder, request_id=mine)
    assert InvitationRequest.objects.get(id=mine).invitation == again
    assert len(sms_outbox.to(ASKER)) == 2


def join_with_sms(phone: str, sms_outbox: SmsOutbox) -> None:
    newcomer = ApiClient("ru")
    started = newcomer.post("/join", {"token": sms_outbox.join_token_for(phone), "phone": phone,
                                      "language": "ru", "display_name": "Vera",
                                      "password": PASSWORD})
    assert started.status_code == 202, started.json_body
    joined = newcomer.post("/join/confirm", {
        "verification_token": started.json_body["verification_token"],
        "code": sms_outbox.code_for(phone),
    })
    assert joined.status_code == 201, joined.json_body


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "The link in the invitation SMS worked until"),
        ("ru", "Ссылка из SMS с приглашением работала до"),
    ],
)
def test_a_granted_requests_status_says_when_its_link_stopped_working(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox, language: str, said: str
) -> None:
    """Once the invitation's link has expired, the status page no longer sends the
    requester to it, and says the same whether or not its number joined through it: it
    would tell whoever asked for someone else's number that its owner became a member."""
    tokens = [ask().json_body["status_token"], ask(phone=OTHER_ASKER).json_body["status_token"]]
    for phone in (ASKER, OTHER_ASKER):
        do_grant_invitation_request(member=founder, request_id=request_id_of(phone))
    join_with_sms(ASKER, sms_outbox)

    def status_of(token: str) -> tuple[str, str]:
        state = ApiClient().post("/invitation-requests/status", {"status_token": token})
        page = Client(HTTP_ACCEPT_LANGUAGE=language).get(f"/ask/{token}").content.decode()
        return state.json_body["state"], page

    for token in tokens:
        state, page = status_of(token)
        assert state == "granted" and said not in page
    clock.advance(days=7, seconds=1)
    pages = []
    for token in tokens:
        state, page = status_of(token)
        assert state == "invitation_expired"
        assert said in page and 'data-state="invitation_expired"' in page
        page = page.replace(token, "")
        pages.append(re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", page))
    assert pages[0] == pages[1]


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "The member who invited you withdrew the invitation on"),
        ("ru", "отозвал приглашение"),
    ],
)
def test_a_request_that_expired_before_its_invitation_was_withdrawn_says_so(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox, language: str, said: str
) -> None:
    """Not "no member granted the request in time": one did, and withdrew it."""
    token = ask().json_body["status_token"]
    clock.advance(days=29)
    invitation = do_grant_invitation_request(member=founder, request_id=request_id_of(ASKER))
    clock.advance(days=2)
    do_revoke_invitation(member=founder, invitation_id=invitation.id)
    page = Client(HTTP_ACCEPT_LANGUAGE=language).get(f"/ask/{token}").content.decode()
    assert 'data-state="expired"' in page
    assert said in page
    with translation.override(language):
        assert gettext("No member granted the request in time. You may ask again.") not in page


def withdraw(token: str, language: str = "en") -> Any:
    return ApiClient(language).post("/invitation-requests/withdraw", {"status_token": token})


def test_withdrawing_a_waiting_request_deletes_it_and_its_number(founder: Member) -> None:
    token = ask().json_body["status_token"]
    request = InvitationRequest.objects.get()
    do_vouch_for_request(member=founder, request_id=request.id)
    withdrawn = withdraw(token)
    assert withdrawn.status_code == 204, withdrawn.json_body
    # Nothing of the request is left: no number, no index, no note, no vouch...
    assert InvitationRequest.objects.count() == 0
    assert Vouch.objects.count() == 0
    assert open_requests_for(founder).count() == 0
    # ...its status link leads nowhere, and it cannot be withdrawn twice.
    status = ApiClient().post("/invitation-requests/status", {"status_token": token})
    assert (status.status_code, status.json_body["code"]) == (404, "request_not_found")
    again = withdraw(token, "ru")
    assert (again.status_code, again.json_body["code"]) == (404, "request_not_found")
    assert "Нет запроса" in again.json_body["detail"]
    with pytest.raises(ActionError) as gone:
        do_grant_invitation_request(member=founder, request_id=request.id)
    assert gone.value.code == "request_not_open"
    # The audit entry says that it happened, and nothing about the number or the token.
    (entry,) = AuditEntry.objects.filter(action=AuditAction.INVITATION_REQUEST_WITHDRAWN)
    assert entry.details == {"region": "RU"}
    assert token not in str(entry.details) and "33" not in str(entry.details)


@pytest.mark.parametrize("token", ["", "not-a-real-token", "x" * 43])
def test_withdrawing_with_a_wrong_token_is_a_translated_404_and_changes_nothing(
    token: str,
) -> None:
    ask()
    refused = withdraw(token, "ru")
    assert refused.status_code in (404, 422)
    if refused.status_code == 404:
        assert refused.json_body["code"] == "request_not_found"
        assert "Нет запроса" in refused.json_body["detail"]
    assert InvitationRequest.objects.filter(listed=True).count() == 1
    assert not AuditEntry.objects.filter(
        action=AuditAction.INVITATION_REQUEST_WITHDRAWN
    ).exists()


def test_withdrawing_answers_alike_for_a_members_number(founder: Member) -> None:
    make_member(phone="+79162223344")
    tokens = [ask().json_body["status_token"],
              ask(phone="+79162223344").json_body["status_token"]]
    answers = [withdraw(token) for token in tokens]
    assert [(answer.status_code, answer.content) for answer in answers] == [(204, b"")] * 2
    assert InvitationRequest.objects.count() == 0


def test_withdrawing_a_granted_request_revokes_its_unused_invitation(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    token = ask().json_body["status_token"]
    api = granter_api(clock)
    granter = Member.objects.get(phone_blind_index=crypto.blind_index(GRANTER))
    granted = api.post(f"/invitation-requests/{request_id_of(ASKER)}/grant")
    assert granted.status_code == 201
    link = sms_outbox.join_token_for(ASKER)
    clock.advance(hours=1)
    assert withdraw(token).status_code == 204
    assert InvitationRequest.objects.count() == 0
    with pytest.raises(ActionError) as dead:
        access_invitation_by_token(link)
    assert dead.value.code == "invitation_revoked"
    invitation = Invitation.objects.get()
    assert invitation.revoked_at == clock.current
    # The invitation kept the number too: it goes, as a member's who leaves does (the
    # blind index stays: it counts the number's invitation SMS).
    assert (invitation.phone_ciphertext, invitation.phone_masked) == (None, "")
    assert invitation.phone_blind_index == crypto.blind_index(ASKER)
    assert AuditEntry.objects.filter(
        action=AuditAction.INVITATION_REVOKED, invitation=invitation
    ).exists()
    # The granter's invitation comes back as after a revocation: when it would have
    # expired, not at once.
    assert allowance_of(granter, moment=clock.current).available == 4
    assert allowance_of(granter, moment=invitation.expires_at).available == 5
    # The granter cannot revoke it again, and nothing puts the request back.
    revoked = api.post(f"/invitations/{invitation.id}/revoke")
    assert (revoked.status_code, revoked.json_body["code"]) == (409, "invitation_not_revocable")
    assert len(api.get("/invitation-requests").json_body["items"]) == 0


def test_withdrawing_a_request_whose_invitation_was_used_leaves_the_member_be(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    token = ask().json_body["status_token"]
    do_grant_invitation_request(member=founder, request_id=request_id_of(ASKER))
    join_with_sms(ASKER, sms_outbox)
    assert withdraw(token).status_code == 204
    assert InvitationRequest.objects.count() == 0
    invitation = Invitation.objects.get()
    assert invitation.redeemed_at is not None and invitation.revoked_at is None
    assert invitation.phone_ciphertext is not None  # the member's, who joined with it
    assert Member.objects.get(display_name="Vera").status == Member.Status.ACTIVE
    assert not AuditEntry.objects.filter(action=AuditAction.INVITATION_REVOKED).exists()


@pytest.mark.parametrize(
    ("language", "button", "done"),
    [
        ("en", "Withdraw my request", "Your request is withdrawn"),
        ("ru", "Отозвать мой запрос", "Ваш запрос отозван"),
    ],
)
def test_withdrawing_on_the_status_page(language: str, button: str, done: str) -> None:
    token = ask().json_body["status_token"]
    asker = Client(HTTP_ACCEPT_LANGUAGE=language, enforce_csrf_checks=True)
    page = asker.get(f"/ask/{token}").content.decode()
    assert button in page
    assert asker.get(f"/ask/{token}/withdraw").status_code == 405
    # Without the form's CSRF token, nothing happens.
    assert asker.post(f"/ask/{token}/withdraw").status_code == 403
    assert InvitationRequest.objects.count() == 1
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert csrf is not None
    withdrawn = asker.post(f"/ask/{token}/withdraw",
                           {"csrfmiddlewaretoken": csrf.group(1)}, follow=True)
    assert withdrawn.status_code == 200
    assert done in withdrawn.content.decode()
    assert InvitationRequest.objects.count() == 0
    again = asker.post(f"/ask/{token}/withdraw", {"csrfmiddlewaretoken": csrf.group(1)})
    assert again.status_code == 404
    with translation.override(language):
        said = gettext("There is no request with this status link. Check that you copied "
                       "all of it.")
    assert said.replace("'", "&#x27;") in again.content.decode()


@pytest.mark.django_db(transaction=True)
def test_ten_withdrawals_of_one_granted_request_at_once_revoke_once(
    sms_outbox: SmsOutbox,
) -> None:
    submitted = do_request_invitation(phone=ASKER, note=NOTE, language="en")
    founder = make_member(role=Member.Role.FOUNDER)
    do_grant_invitation_request(member=founder, request_id=submitted.request.id)
    outcomes = race([
        partial(do_withdraw_invitation_request, token=submitted.status_token)
        for _ in range(10)
    ])
    assert outcomes.count("joined") == 1  # race()'s word for success
    assert outcomes.count("request_not_found") == 9
    assert InvitationRequest.objects.count() == 0
    assert Invitation.objects.get().revoked_at is not None
    assert AuditEntry.objects.filter(action=AuditAction.INVITATION_REVOKED).count() == 1
    assert AuditEntry.objects.filter(
        action=AuditAction.INVITATION_REQUEST_WITHDRAWN
    ).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_racing_grants_leaves_no_live_invitation(sms_outbox: SmsOutbox) -> None:
    """Whichever comes first, the request ends deleted and no invitation sent on it
    still works: a grant after the withdrawal finds nothing, one before is revoked."""
    submitted = do_request_invitation(phone=ASKER, note=NOTE, language="en")
    granters = [make_member(role=Member.Role.MODERATOR) for _ in range(4)]
    outcomes = race([
        partial(do_withdraw_invitation_request, token=submitted.status_token),
        *(partial(do_grant_invitation_request, member=member, request_id=submitted.request.id)
          for member in granters),
    ])
    assert not [outcome for outcome in outcomes if outcome.startswith("crash")], outcomes
    assert InvitationRequest.objects.count() == 0
    assert not Invitation.objects.filter(revoked_at__isnull=True).exists()
    assert Invitation.objects.count() == outcomes.count("joined") - 1


# --- paging: by vouches, then age, then id, with a cursor -----------------------------


def _listed_in_order(founder: Member, clock: FrozenClock) -> tuple[list[int], int]:
    """Six requests in the list's order — the one vouched for first (asked last), then
    the longest waiting, two asked at the same moment by id — and a seventh, older
    than those, granted now (off the list until its invitation is revoked)."""
    phones = [f"+7916777{index:04d}" for index in range(7)]
    for index, phone in enumerate(phones):
        if index != 4:  # asked at the same moment as the one before
            clock.advance(minutes=1)
        do_request_invitation(phone=phone, note=f"note {index}", language="en")
    ids = [request_id_of(phone) for phone in phones]
    do_vouch_for_request(member=founder, request_id=ids[6])
    do_grant_invitation_request(member=founder, request_id=ids[0])
    return [ids[6], *ids[1:6]], ids[0]


def _put_back(founder: Member, request_id: int) -> None:
    invitation = InvitationRequest.objects.get(id=request_id).invitation
    assert invitation is not None
    do_revoke_invitation(member=founder, invitation_id=invitation.id)


def test_the_request_list_pages_by_cursor_without_repeats_or_gaps(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """``?after=<next_after>``: a request put back on the list between two pages (its
    invitation revoked) takes its old place without pushing a read one onto the next
    page, and one granted from a page already read lets none slip past the next (an
    offset did both)."""
    listed, granted = _listed_in_order(founder, clock)
    api = ApiClient()
    api.log_in("+79160000001")
    first = api.get("/invitation-requests?limit=2")
    assert first.status_code == 200, first.json_body
    assert set(first.json_body) == {"items", "next_after"}
    seen = [item["id"] for item in first.json_body["items"]]
    _put_back(founder, granted)
    second = api.get(f"/invitation-requests?limit=2&after={first.json_body['next_after']}")
    seen += [item["id"] for item in second.json_body["items"]]
    do_grant_invitation_request(member=founder, request_id=listed[2])  # read just now
    cursor = second.json_body["next_after"]
    while cursor is not None:
        page = api.get(f"/invitation-requests?limit=2&after={cursor}").json_body
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_after"]
    assert seen == listed
    assert [item["id"] for item in api.get("/invitation-requests").json_body["items"]] == [
        listed[0], granted, listed[1], *listed[3:]]


def _next_link(html: str) -> str | None:
    more = re.search(r'<a href="([^"]+)" data-testid="next">', html)
    return None if more is None else more.group(1).replace("&amp;", "&")


def _shown_requests(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'/requests/(\d+)/grant', html)]


def test_the_request_page_links_its_next_page_by_cursor(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The "Next" link carries the cursor and keeps the address's other parameters."""
    monkeypatch.setattr("inviteonly.invitation_requests.views.REQUESTS_PER_PAGE", 2)
    listed, granted = _listed_in_order(founder, clock)
    client = Client()
    client.force_login(founder)
    page = client.get("/requests/", {"mark": "x y"}).content.decode()
    seen = _shown_requests(page)
    _put_back(founder, granted)
    link = _next_link(page)
    assert link is not None and "mark=x+y" in link and "page=" not in link
    page = client.get(f"/requests/{link}").content.decode()
    seen += _shown_requests(page)
    do_grant_invitation_request(member=founder, request_id=listed[2])
    while (link := _next_link(page)) is not None:
        assert link.count("after=") == 1 and "mark=x+y" in link
        page = client.get(f"/requests/{link}").content.decode()
        seen += _shown_requests(page)
    assert seen == listed


# Cursors no page wrote: other shapes, a NUL (which PostgreSQL refuses outright), digits
# of another script, and the largest each part may be.
MALFORMED_REQUEST_CURSORS = ["nonsense", "1-2", "1-2-3-4", "-1-2-3", "0-1-2\x00", "\x00",
                             "1-\u0661-2", "1-2-3\n", "1234567890-1-1", "1-12345678901234567-1"]


@pytest.mark.parametrize("cursor", MALFORMED_REQUEST_CURSORS)
@pytest.mark.parametrize(("language", "detail"), [
    ("en", "after: This value is invalid."), ("ru", "after: Недопустимое значение."),
])
def test_a_malformed_request_list_cursor_is_a_translated_422(
    founder: Member, cursor: str, language: str, detail: str
) -> None:
    ask()
    api = ApiClient(language)
    api.log_in("+79160000001")
    answer = api.client.get("/api/invitation-requests", {"after": cursor},
                            headers={"Authorization": f"Bearer {api.token}"})
    assert answer.status_code == 422, cursor
    body = answer.json()
    assert (body["code"], body["field"], body["detail"]) == ("invalid_request", "after", detail)


@pytest.mark.parametrize("cursor", MALFORMED_REQUEST_CURSORS)
def test_a_malformed_request_page_cursor_is_the_first_page(
    founder: Member, cursor: str
) -> None:
    ask()
    client = Client()
    client.force_login(founder)
    page = client.get("/requests/", {"after": cursor})
    assert page.status_code == 200
    assert _shown_requests(page.content.decode()) == [InvitationRequest.objects.get().id]


def test_the_largest_request_list_cursors_are_answered(founder: Member) -> None:
    """Each part at its largest: bound as they are, never an error on PostgreSQL."""
    ask()
    api = ApiClient()
    api.log_in("+79160000001")
    # Vouched for more than any: before every request.
    most = api.get("/invitation-requests?after=999999999-9999999999999999-9999999999999999999")
    assert (len(most.json_body["items"]), most.json_body["next_after"]) == (1, None)
    # Of no vouch, asked last and of the largest id: after every one.
    last = api.get("/invitation-requests?after=0-9999999999999999-9999999999999999999")
    assert last.json_body == {"items": [], "next_after": None}


@pytest.mark.parametrize(("language", "new", "older"), [
    ("en", "asked just now", "asked 5 minutes ago"),
    ("ru", "запрошено только что", "запрошено 5 минут назад"),
])
def test_a_requests_age_below_a_minute_is_just_now(
    founder: Member, clock: FrozenClock, language: str, new: str, older: str
) -> None:
    """A new request was "asked 0 minutes ago"; its age is the site's clock's."""
    ask()
    page = Client(HTTP_ACCEPT_LANGUAGE=language)
    page.force_login(founder)

    def meta() -> str:
        html = page.get("/requests/").content.decode()
        [line] = re.findall(r'<p class="meta">(.*?)</p>', html, re.S)
        return line.replace("\xa0", " ")  # timesince's non-breaking spaces

    assert new in meta()
    clock.advance(seconds=59)
    assert new in meta()
    clock.advance(minutes=4, seconds=1)
    shown = meta()
    assert older in shown and new not in shown
