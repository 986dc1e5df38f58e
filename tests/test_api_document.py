"""The OpenAPI document against what the server answers: a client written from the
document alone meets no status, header or field it was not told about."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from inviteonly import settings as production_settings
from inviteonly.accounts.models import Member
from inviteonly.invitation_requests.actions import do_request_invitation
from inviteonly.invitations.actions import do_invite_by_phone
from tests.api_document import DocumentMismatch, check_against_document, document
from tests.conftest import PASSWORD, ApiClient, SmsOutbox, make_member

pytestmark = pytest.mark.django_db

# Every rate-limited action refuses its first request, by address or by member.
EVERY_ACTION_REFUSED = {
    action: [("ip", 0, 3600), ("member", 0, 3600)] for action in production_settings.RATE_LIMITS
}


def test_the_checker_refuses_what_the_document_does_not_declare() -> None:
    answer = Client().get("/api/me")
    assert answer.status_code == 401
    check_against_document("GET", "/api/me", answer)
    answer.status_code = 429
    with pytest.raises(DocumentMismatch, match="429, not declared"):
        check_against_document("GET", "/api/me", answer)
    with pytest.raises(DocumentMismatch, match="without Retry-After"):
        check_against_document("POST", "/api/session", answer)
    answer.status_code = 201
    with pytest.raises(DocumentMismatch, match="with WWW-Authenticate, not declared"):
        check_against_document("POST", "/api/session", answer)
    del answer["WWW-Authenticate"]
    with pytest.raises(DocumentMismatch, match="off its schema"):
        check_against_document("POST", "/api/session", answer)
    answer.status_code = 204
    with pytest.raises(DocumentMismatch, match="with a body"):
        check_against_document("DELETE", "/api/session", answer)


def rate_limited_requests(founder: Member, sms_outbox: SmsOutbox) -> list[tuple[str, str, Any]]:
    """(method, path, body) of each operation that counts a rate limit, with a body
    that passes validation."""
    other = make_member(phone="+79165550001").id
    do_invite_by_phone(inviter=founder, phone="+79165550002")
    token = sms_outbox.join_token_for("+79165550002")
    asked = do_request_invitation(
        phone="+79165550003", note="A friend of Anna's", language="en", ip_address=None
    )
    confirm = {"verification_token": "x" * 32, "code": "123456"}
    return [
        ("POST", "/session", {"phone": "+79165550001", "password": PASSWORD}),
        ("POST", "/join", {"token": token, "phone": "+79165550002", "display_name": "Eve",
                           "password": PASSWORD}),
        ("POST", "/join/confirm", confirm),
        ("POST", "/recovery", {"phone": "+79165550001"}),
        ("POST", "/recovery/confirm", {**confirm, "new_password": PASSWORD + " 2"}),
        ("POST", "/invitations", {"phone": "+79165550004"}),
        ("POST", "/invitation-requests", {"phone": "+79165550005", "note": "Hello there"}),
        ("POST", f"/invitation-requests/{asked.request.id}/grant", None),
        ("POST", "/friend-requests", {"member_id": other}),
        ("POST", "/find-by-phone", {"phone": "+79165550001"}),
        ("POST", f"/members/{founder.id}/wall", {"text": "Hello"}),
        ("POST", f"/conversations/{other}", {"text": "Hello"}),
        ("POST", "/reports", {"target_kind": "profile", "target_id": other, "reason": "spam"}),
        ("POST", "/me/password", {"current_password": PASSWORD,
                                  "new_password": PASSWORD + " 2"}),
        ("POST", "/me/phone", {"password": PASSWORD, "phone": "+79165550006"}),
        ("POST", "/me/phone/confirm", confirm),
    ]


def test_every_rate_limited_operation_declares_its_429_and_retry_after(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    requests = rate_limited_requests(founder, sms_outbox)
    member = ApiClient("ru")
    member.log_in("+79160000001")
    refused = []
    with override_settings(RATE_LIMITS=EVERY_ACTION_REFUSED):
        for method, path, body in requests:
            answer = member.request(method, path, body)  # checked against the document
            assert answer.status_code == 429, (path, answer.json_body)
            assert answer.json_body["code"] == "rate_limited"
            assert answer.json_body["detail"].startswith("Слишком много попыток")
            assert int(answer["Retry-After"]) > 0
            refused.append(path)
    assert len(refused) == len(requests)


def test_a_body_over_the_limit_is_declared_wherever_a_body_is_taken() -> None:
    too_large = "x" * (64 * 1024 + 1)
    answer = ApiClient().post("/session", {"phone": too_large, "password": "x"})
    assert answer.status_code == 413
    assert answer.json_body["code"] == "request_too_large"
    without_413 = [
        f"{method.upper()} {path}"
        for path, operations in document()["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation and "413" not in operation["responses"]
    ]
    assert without_413 == []


@pytest.mark.parametrize(
    ("path", "newcomer_status"), [("/invitations", 200), ("/invitation-requests", 403)]
)
def test_lists_declare_their_refusals(founder: Member, path: str, newcomer_status: int) -> None:
    # Each answer is checked against the document by ApiClient.
    assert ApiClient().get(path).status_code == 401
    member = ApiClient()
    member.log_in("+79160000001")
    assert member.get(f"{path}?limit=1000").status_code == 422
    make_member(phone="+79165550001")  # too new to invite, so not to read requests
    newcomer = ApiClient()
    newcomer.log_in("+79165550001")
    assert newcomer.get(path).status_code == newcomer_status


@pytest.mark.parametrize(("schema", "path"), [("JoinIn", "/join"),
                                              ("RequestIn", "/invitation-requests")])
def test_a_newcomers_language_lists_the_languages_the_server_takes(
    founder: Member, sms_outbox: SmsOutbox, schema: str, path: str
) -> None:
    field = document()["components"]["schemas"][schema]["properties"]["language"]
    assert field["enum"] == ["en", "ru", None]
    do_invite_by_phone(inviter=founder, phone="+79165550001")
    body = {"phone": "+79165550001", "note": "A friend of Anna's", "display_name": "Eve",
            "password": PASSWORD, "token": sms_outbox.join_token_for("+79165550001")}
    refused = ApiClient("ru").post(path, {**body, "language": "de"})
    assert refused.status_code == 400
    assert refused.json_body["field"] == "language"
    assert refused.json_body["detail"] == "Выберите один из предложенных языков."
