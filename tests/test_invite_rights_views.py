"""The invite-rights checklist on the invite page (English and Russian), revoking from
"My invitations", and the same rights through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.actions import do_invite_by_phone
from inviteonly.invitations.models import Invitation, InviteRightsGrant
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.models import Sanction, SanctionKind
from inviteonly.site_config.actions import do_set_registration_mode
from inviteonly.site_config.models import RegistrationMode
from tests.conftest import PASSWORD, ApiClient, FrozenClock, SmsOutbox, make_member

pytestmark = pytest.mark.django_db

NUMBER = "+79161230001"
DAY = timedelta(days=1)


def logged_in(phone: str, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    response = client.post("/login/", {"phone": phone, "password": PASSWORD})
    assert response.status_code == 302, response.content
    client.cookies["django_language"] = language
    return client


@pytest.mark.parametrize(
    ("language", "headline", "age_title", "trust"),
    [
        ("en", "You can invite in 12 days", "Your account is at least 30 days old",
         "Trust scores are not computed yet"),
        ("ru", "Вы сможете приглашать через 12 дней", "Аккаунту не меньше 30 дней",
         "Рейтинг доверия пока не считается"),
    ],
)
def test_invite_page_shows_the_checklist_with_progress(
    clock: FrozenClock, language: str, headline: str, age_title: str, trust: str
) -> None:
    make_member(phone=NUMBER, joined_at=clock.current - 18 * DAY, language=language)
    page = logged_in(NUMBER, language).get("/invite/").content.decode()
    assert headline in page, page
    assert age_title in page
    assert trust in page
    assert 'data-rule="account_age" data-state="failed"' in page
    assert '<progress value="18" max="30">' in page
    assert 'data-rule="trust_score" data-state="inactive"' in page
    assert '<form method="post" novalidate>' not in page


@pytest.mark.parametrize(
    ("language", "verdict"),
    [("en", "You can invite: 4 invitations left."),
     ("ru", "Вы можете приглашать: осталось 4 приглашения.")],
)
def test_an_eligible_member_sees_the_allowance_and_the_form(
    clock: FrozenClock, language: str, verdict: str
) -> None:
    make_member(phone=NUMBER, joined_at=clock.current - 30 * DAY, language=language)
    page = logged_in(NUMBER, language).get("/invite/").content.decode()
    assert verdict in page, page
    assert '<form method="post" novalidate>' in page


def test_a_suspended_member_sees_who_must_act(clock: FrozenClock, founder: Member) -> None:
    member = make_member(phone=NUMBER, joined_at=clock.current - 400 * DAY)
    Sanction.objects.create(
        member=member, kind=SanctionKind.INVITE_SUSPENSION, reason="Selling invitations",
        moderator=founder,
    )
    page = logged_in(NUMBER).get("/invite/").content.decode()
    assert "You cannot invite right now" in page
    assert "Selling invitations" in page


def test_revoking_from_my_invitations(
    clock: FrozenClock, founder: Member, sms_outbox: SmsOutbox
) -> None:
    invitation = do_invite_by_phone(inviter=founder, phone=NUMBER)
    client = logged_in("+79160000001")
    listing = client.get("/invitations/").content.decode()
    assert f'data-testid="revoke-{invitation.id}"' in listing
    assert client.get(f"/invitations/{invitation.id}/revoke/").status_code == 405
    page = client.post(f"/invitations/{invitation.id}/revoke/", follow=True).content.decode()
    assert "is revoked" in page
    assert 'data-state="revoked"' in page
    assert f'data-testid="revoke-{invitation.id}"' not in page
    again = client.post(f"/invitations/{invitation.id}/revoke/", follow=True).content.decode()
    assert "Only an invitation that is still waiting" in again


def test_api_returns_the_same_rules_as_the_page(clock: FrozenClock, api: ApiClient) -> None:
    member = make_member(phone=NUMBER, joined_at=clock.current - 18 * DAY)
    api.log_in(NUMBER)
    response = api.get("/me/invite-rights")
    assert response.status_code == 200
    body = response.json_body
    assert body["can_invite"] is False and body["unlimited"] is False
    assert body["days_to_wait"] == 12
    assert body["allowance"] == {
        "available": 2, "maximum": 5,
        "next_earned_at": (member.joined_at + 21 * DAY).isoformat().replace("+00:00", "Z"),
    }
    assert [rule["rule"] for rule in body["rules"]] == [
        "standing", "suspension", "account_age", "sanctions", "invitees", "trust_score",
        "allowance", "registration",
    ]
    age = body["rules"][2]
    assert age["state"] == "failed" and (age["progress"], age["target"]) == (18, 30)
    assert age["passes_at"].startswith((member.joined_at + 30 * DAY).date().isoformat())
    russian = ApiClient(language="ru")
    russian.token = api.token
    assert "30 дней" in russian.get("/me/invite-rights").json_body["rules"][2]["title"]


def test_api_revoke(founder: Member, api: ApiClient, sms_outbox: SmsOutbox) -> None:
    api.log_in("+79160000001")
    created = api.post("/invitations", {"phone": NUMBER})
    assert created.status_code == 201
    revoked = api.post(f"/invitations/{created.json_body['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json_body["state"] == "revoked"
    again = api.post(f"/invitations/{created.json_body['id']}/revoke")
    assert again.status_code == 409
    assert again.json_body["code"] == "invitation_not_revocable"
    assert api.post("/invitations/999999/revoke").status_code == 404
    assert Invitation.objects.get().revoked_at is not None


def test_moderators_grant_and_suspend_through_the_api(
    clock: FrozenClock, founder: Member, api: ApiClient
) -> None:
    member = make_member(phone=NUMBER, joined_at=clock.current - 8 * DAY)
    api.log_in("+79160000001")
    granted = api.post(
        f"/members/{member.id}/invite-rights",
        {"decision": "grant", "reason": "Community organiser"},
    )
    assert granted.status_code == 200, granted.json_body
    assert granted.json_body["can_invite"] is True
    assert InviteRightsGrant.objects.get().granted_by == founder
    suspended = api.post(
        f"/members/{member.id}/invite-rights",
        {"decision": "suspend", "reason": "Reports of resale",
         "ends_at": (clock.current + 5 * DAY).isoformat()},
    )
    assert suspended.status_code == 200
    assert suspended.json_body["can_invite"] is False
    assert suspended.json_body["can_invite_at"] is not None
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {
        AuditAction.INVITE_RIGHTS_GRANTED, AuditAction.INVITE_RIGHTS_SUSPENDED,
    }
    # A plain member may neither look nor decide.
    peer = ApiClient()
    peer.log_in(NUMBER)
    assert peer.get(f"/members/{founder.id}/invite-rights").status_code == 403
    refused = peer.post(
        f"/members/{founder.id}/invite-rights", {"decision": "suspend", "reason": "x"}
    )
    assert refused.status_code == 403 and refused.json_body["code"] == "not_a_moderator"
    assert api.get("/members/999999/invite-rights").status_code == 404


def test_api_decision_needs_an_end_date_with_a_time_zone(
    clock: FrozenClock, founder: Member, api: ApiClient
) -> None:
    member = make_member(phone=NUMBER)
    api.log_in("+79160000001")
    naive = api.post(
        f"/members/{member.id}/invite-rights",
        {"decision": "suspend", "reason": "x", "ends_at": "2030-01-01T00:00:00"},
    )
    assert naive.status_code == 422 and naive.json_body["field"] == "ends_at"
    past = api.post(
        f"/members/{member.id}/invite-rights",
        {"decision": "suspend", "reason": "x", "ends_at": "2001-01-01T00:00:00Z"},
    )
    assert past.status_code == 400 and past.json_body["code"] == "ends_at_in_past"
    # Year 10000 in UTC: PostgreSQL would store it and the driver not read it back.
    for far in ("9999-12-31T23:59:59-14:00", "2040-01-01T00:00:00Z"):
        too_far = api.post(
            f"/members/{member.id}/invite-rights",
            {"decision": "grant", "reason": "x", "ends_at": far},
        )
        assert (too_far.status_code, too_far.json_body["code"]) == (400, "ends_at_too_far")
    assert not Sanction.objects.exists() and not InviteRightsGrant.objects.exists()
    assert api.get("/me").status_code == 200


CLOSED = {
    "en": "Registration is closed at the moment, so invitations cannot be sent. "
          "Please try again later.",
    "ru": "Регистрация сейчас закрыта, поэтому приглашения не отправляются. "
          "Попробуйте позже.",
}


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("role", [Member.Role.MEMBER, Member.Role.FOUNDER])
def test_a_closed_site_tells_members_they_cannot_invite_as_sending_does(
    clock: FrozenClock, founder: Member, api: ApiClient, language: str, role: Member.Role,
) -> None:
    """In closed mode every invitation is refused, a founder's too: the checklist, the
    page and the API say so, with the reason sending gives, and offer no form."""
    member = make_member(phone=NUMBER, joined_at=clock.current - 30 * DAY, role=role,
                         language=language)
    do_set_registration_mode(actor=founder, mode=RegistrationMode.CLOSED)
    page = logged_in(NUMBER, language).get("/invite/").content.decode()
    assert CLOSED[language] in page, page
    assert 'data-rule="registration" data-state="failed"' in page
    assert '<form method="post" novalidate>' not in page
    localized = ApiClient(language)
    localized.log_in(NUMBER)
    body = localized.get("/me/invite-rights").json_body
    assert body["can_invite"] is False and body["can_invite_at"] is None
    (rule,) = [rule for rule in body["rules"] if rule["state"] == "failed"]
    assert (rule["rule"], rule["reason"]) == ("registration", CLOSED[language])
    with pytest.raises(ActionError) as refused:
        do_invite_by_phone(inviter=member, phone="+79161230002")
    assert refused.value.code == "registration_closed"
    # Open again, the member may invite, and the page says so.
    do_set_registration_mode(actor=founder, mode=RegistrationMode.INVITE_ONLY)
    body = localized.get("/me/invite-rights").json_body
    assert body["can_invite"] is True
    assert [rule["state"] for rule in body["rules"] if rule["rule"] == "registration"] == [
        "passed"
    ]
    page = logged_in(NUMBER, language).get("/invite/").content.decode()
    assert '<form method="post" novalidate>' in page


def test_a_closed_site_still_lets_members_read_and_vouch_for_requests(
    clock: FrozenClock, founder: Member
) -> None:
    """Vouching sends nothing: closed registration stops invitations, not invite rights."""
    from inviteonly.invitation_requests.actions import (
        do_request_invitation,
        do_vouch_for_request,
    )
    from inviteonly.invitation_requests.queries import open_requests_for

    member = make_member(phone=NUMBER, joined_at=clock.current - 30 * DAY)
    submitted = do_request_invitation(phone="+79161112233", note="A friend", language="en")
    do_set_registration_mode(actor=founder, mode=RegistrationMode.CLOSED)
    assert open_requests_for(member).count() == 1
    assert do_vouch_for_request(member=member, request_id=submitted.request.id) == 1
