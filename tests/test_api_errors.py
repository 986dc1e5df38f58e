"""Malformed API requests get one clear, translated error shape and change nothing."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.actions import do_create_founder_invitation
from inviteonly.invitations.models import Invitation
from inviteonly.moderation.actions import do_set_status_as_operator
from inviteonly.phone_verification.models import PhoneVerification
from inviteonly.sms.models import OutboundSms
from tests.conftest import PASSWORD, ApiClient, SmsOutbox, make_member
from tests.test_phone_numbers import PREMIUM_RATE_AND_TOLL_FREE

pytestmark = pytest.mark.django_db


def assert_nothing_written() -> None:
    assert Invitation.objects.count() == 0
    assert PhoneVerification.objects.count() == 0
    assert OutboundSms.objects.count() == 0


def test_form_encoded_body_gets_415(founder: Member, api: ApiClient) -> None:
    api.log_in("+79160000001")
    response = api.client.post(
        "/api/invitations", {"phone": "+79161234567"},
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert "application/json" in response.json()["detail"]
    assert_nothing_written()


def test_malformed_json_gets_400() -> None:
    response = Client().post("/api/recovery", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert_nothing_written()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "phone"),
        ({"phone": "1" * 41}, "phone"),
        ({"phone": 79161234567}, "phone"),
        ({"phone": "+79161234567", "region": "RUS"}, "region"),
    ],
)
def test_shape_errors_name_the_field(body: dict[str, object], field: str) -> None:
    response = ApiClient().post("/recovery", body)
    assert response.status_code == 422
    assert response.json_body["code"] == "invalid_request"
    assert response.json_body["field"] == field
    assert_nothing_written()


def test_errors_are_translated_by_accept_language() -> None:
    english = ApiClient("en").post("/recovery", {"phone": "+7 800 123-45-67"})
    russian = ApiClient("ru").post("/recovery", {"phone": "+7 800 123-45-67"})
    assert english.status_code == russian.status_code == 400
    assert english.json_body["code"] == russian.json_body["code"] == "phone_not_mobile"
    assert "toll-free" in english.json_body["detail"]
    assert english.json_body["detail"] != russian.json_body["detail"]


def test_missing_or_bad_bearer_token_gets_401() -> None:
    assert ApiClient().get("/me").status_code == 401
    api = ApiClient()
    api.token = "not-a-session"
    response = api.get("/me")
    assert response.status_code == 401
    assert response.json_body["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"


def test_unknown_verification_token_gets_410() -> None:
    response = ApiClient().post(
        "/join/confirm", {"verification_token": "nope", "code": "123456"}
    )
    assert response.status_code == 410
    assert response.json_body["code"] == "code_expired"


def test_only_administrators_switch_registration_mode(founder: Member) -> None:
    make_member(phone="+79165550001")
    member = ApiClient()
    member.log_in("+79165550001")
    assert member.request("PUT", "/site/registration-mode", {"mode": "open"}).status_code == 403
    admin = ApiClient()
    admin.log_in("+79160000001")
    bad = admin.request("PUT", "/site/registration-mode", {"mode": "sometimes"})
    assert bad.status_code == 422
    good = admin.request("PUT", "/site/registration-mode", {"mode": "open"})
    assert good.status_code == 200
    assert ApiClient().get("/site").json_body["registration_mode"] == "open"


def test_a_quarantined_founder_does_not_switch_registration_mode(founder: Member) -> None:
    """A founder another operator quarantined is no administrator until it is lifted:
    the admin refuses them its changes, and so does the API."""
    other = make_member(role=Member.Role.FOUNDER, phone="+79160000002")
    quarantined = ApiClient()
    quarantined.log_in("+79160000002")
    do_set_status_as_operator(member=other, operator=founder, status="quarantined",
                              reason="Under review")
    refused = quarantined.request("PUT", "/site/registration-mode", {"mode": "open"})
    assert (refused.status_code, refused.json_body["code"]) == (403, "forbidden")
    assert ApiClient().get("/site").json_body["registration_mode"] == "invite_only"
    assert not AuditEntry.objects.filter(action=AuditAction.REGISTRATION_MODE_CHANGED).exists()


def test_openapi_document_is_served() -> None:
    document = json.loads(Client().get("/api/openapi.json").content)
    assert "/api/join/confirm" in document["paths"]
    assert Client().get("/api/docs").status_code == 200


@pytest.mark.parametrize(
    ("query", "status"),
    [("before=9223372036854775808", 422), ("before=0", 422), ("limit=1000", 422),
     ("limit=0", 422), ("limit=10&before=5", 200)],
)
def test_list_pagination_is_bounded(founder: Member, query: str, status: int) -> None:
    api = ApiClient()
    api.log_in("+79160000001")
    assert api.get(f"/invitations?{query}").status_code == status


def shape(body: dict[str, object]) -> dict[str, object]:
    """An answer with the values that differ by nature (tokens, ids, times) blanked."""
    return {
        key: (type(value).__name__ if key in {"verification_token", "expires_at", "id",
                                                "created_at", "phone_masked"} else value)
        for key, value in body.items()
    }


def test_api_answers_alike_for_member_and_stranger_numbers(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    make_member(phone="+79165550001")
    inviter = ApiClient()
    inviter.log_in("+79160000001")
    member_invite = inviter.post("/invitations", {"phone": "+79165550001"})
    stranger_invite = inviter.post("/invitations", {"phone": "+79165550002"})
    assert member_invite.status_code == stranger_invite.status_code == 201
    assert shape(member_invite.json_body) == shape(stranger_invite.json_body)

    member_recovery = ApiClient().post("/recovery", {"phone": "+79165550001"})
    stranger_recovery = ApiClient().post("/recovery", {"phone": "+79165550002"})
    assert member_recovery.status_code == stranger_recovery.status_code == 202
    assert shape(member_recovery.json_body) == shape(stranger_recovery.json_body)

    _founder_link, token = do_create_founder_invitation()
    joins = [
        ApiClient().post("/join", {"token": token, "phone": phone, "display_name": "X",
                                   "password": PASSWORD, "language": "en"})
        for phone in ("+79165550001", "+79165550003")
    ]
    assert joins[0].status_code == joins[1].status_code == 202
    assert shape(joins[0].json_body) == shape(joins[1].json_body)


@pytest.mark.parametrize(("phone", "english", "russian"), PREMIUM_RATE_AND_TOLL_FREE)
def test_an_invitation_to_a_premium_rate_or_toll_free_number_is_refused_with_the_reason(
    founder: Member, sms_outbox: SmsOutbox, phone: str, english: str, russian: str
) -> None:
    for language, reason in (("en", english), ("ru", russian)):
        inviter = ApiClient(language)
        inviter.log_in("+79160000001")
        response = inviter.post("/invitations", {"phone": phone})
        assert response.status_code == 400, response.json_body
        assert response.json_body["code"] == "phone_not_mobile"
        assert response.json_body["field"] == "phone"
        assert reason in response.json_body["detail"]
    assert_nothing_written()
    assert sms_outbox.deliver() == []
