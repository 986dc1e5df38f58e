"""Invitation requests: people who know no member ask privately; members who may
invite see the note, country, language and age — never a contact — and vouch or grant;
granting makes them the inviter and sends the invitation SMS; requests expire."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from inviteonly import settings as production_settings
from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitation_requests.actions import (
    do_grant_invitation_request,
    do_request_invitation,
    do_vouch_for_request,
)
from inviteonly.invitation_requests.models import InvitationRequest, Vouch
from inviteonly.invitation_requests.queries import open_requests_for
from inviteonly.invitations.models import Invitation, InviteAllowance
from inviteonly.lib.errors import ActionError
from inviteonly.sms.models import OutboundSms
from tests.conftest import PASSWORD, ApiClient, FrozenClock, SmsOutbox, make_member
from tests.test_concurrency import race

pytestmark = pytest.mark.django_db

ASKER = "+79161112233"
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


def test_a_long_note_in_the_action_is_refused_with_the_limit() -> None:
    with pytest.raises(ActionError) as refused:
        do_request_invitation(phone=ASKER, note="x" * 501, language="en")
    assert refused.value.code == "note_too_long"
    assert "500" in str(refused.value.message)


def test_members_numbers_and_repeats_answer_alike_but_are_never_listed(founder: Member) -> None:
    make_member(phone="+79162223344")
    answers = [ask(), ask(), ask(phone="+79162223344")]
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    assert {tuple(sorted(answer.json_body)) for answer in answers} == {
        ("created_at", "expires_at", "granted_at", "state", "status_token")
    }
    assert [request.listed for request in InvitationRequest.objects.order_by("id")] == [
        True, False, False
    ]
    member = ApiClient()
    member.log_in("+79160000001")
    listed = member.get("/invitation-requests")
    assert listed.json_body["count"] == 1


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
    assert NOTE.replace("'", "&#x27;") in html and "Russia" in html
    for shown in ("1112233", "111-22-33", "***-**-33", "+7 916"):
        assert shown not in html


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
    assert api.get("/invitation-requests").json_body["count"] == 0
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
    # The number may ask again, and the new request is the listed one.
    ask()
    assert InvitationRequest.objects.filter(listed=True).count() == 1
    assert not InvitationRequest.objects.get(id=request.id).listed
    clock.advance(days=31)
    output = StringIO()
    call_command("sweep", stdout=output)
    assert "and 1 invitation requests" in output.getvalue()


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
