"""After the whole flow, neither the database nor the logs hold a phone number, a
code, a join token, a verification token or a session key in plaintext."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from inviteonly.accounts.models import Member
from inviteonly.invitation_requests.actions import do_request_invitation
from tests.conftest import PASSWORD, ApiClient, SmsOutbox, make_member
from tests.test_api_flow import run_membership_flow

pytestmark = pytest.mark.django_db

US_NUMBER = "+14155552671"
NUMBER_FORMS = [
    US_NUMBER, US_NUMBER[1:], US_NUMBER[2:], "415 555 2671", "415-555-2671", "(415) 555-2671",
    "+79160000001", "79160000001", "9160000001", "916 000-00-01",
]


def database_dump() -> str:
    """Every value in every table, binary values as Latin-1 so stray ASCII would show."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    chunks.append(f"{table}: {value}")
    return "\n".join(chunks)


def secrets_found(text: str, secrets: list[str]) -> list[str]:
    # Codes are six digits, which hex digests contain by chance: look for them standalone.
    return [
        secret for secret in secrets
        if re.search(rf"(?<![0-9A-Za-z_-]){re.escape(secret)}(?![0-9A-Za-z_-])", text)
    ]


def tokens_in(body: Any) -> list[str]:
    """Every ``…_token`` value in a JSON answer (verification and session tokens)."""
    if isinstance(body, dict):
        return [
            found for key, value in body.items()
            for found in ([value] if key.endswith("_token") and isinstance(value, str)
                          else tokens_in(value))
        ]
    if isinstance(body, list):
        return [found for item in body for found in tokens_in(item)]
    return []


IDEMPOTENCY_KEY = "c0ffee-retry-key-5f3a"


def test_no_plaintext_number_code_or_token_in_database_or_debug_logs(
    founder: Member, sms_outbox: SmsOutbox, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for logger in ("", "django", "inviteonly", "waitress"):
        caplog.set_level(logging.DEBUG, logger=logger)
    # Every token the API hands out during the flow: verification tokens (join,
    # recovery) and session tokens.
    handed_out: list[str] = []
    request = ApiClient.request

    def recording(
        self: ApiClient, method: str, path: str, body: Any = None, **options: Any
    ) -> Any:
        response = request(self, method, path, body, **options)
        handed_out.extend(tokens_in(response.json_body))
        return response

    monkeypatch.setattr(ApiClient, "request", recording)
    connection.force_debug_cursor = True  # log every SQL statement with its parameters
    try:
        run_membership_flow(
            founder, sms_outbox, typed_phone="+1 415 555 2671", e164=US_NUMBER, language="en"
        )
        browser = Client()
        browser.post("/login/", {"phone": US_NUMBER, "password": "a brand new passphrase"})
        cookie_session_key = browser.cookies[settings.SESSION_COOKIE_NAME].value
        api_session_key = ApiClient().log_in(US_NUMBER, "a brand new passphrase").json_body[
            "session_token"
        ]
        ApiClient().post("/session", {"phone": US_NUMBER, "password": "wrong " + PASSWORD})
        # The password changed on the page (a new cookie key), then through the API (a
        # new token), once after a wrong current password.
        assert browser.post("/profile/password/", {
            "current_password": "a brand new passphrase", "new_password": "a changed passphrase",
        }).status_code == 302
        cycled_session_key = browser.cookies[settings.SESSION_COOKIE_NAME].value
        changer = ApiClient()
        changer.log_in(US_NUMBER, "a changed passphrase")
        assert [changer.post("/me/password", {
            "current_password": current, "new_password": "the final passphrase",
        }).status_code for current in ("wrong " + PASSWORD, "a changed passphrase")] == [400, 200]
        # A post and its retry under an idempotency key, kept only as a digest.
        poster = ApiClient()
        poster.log_in(US_NUMBER, "the final passphrase")
        own_wall = f"/members/{poster.get('/me').json_body['id']}/wall"
        assert [poster.post(own_wall, {"text": "Hello"}, headers={
            "Idempotency-Key": IDEMPOTENCY_KEY}).status_code for _ in range(2)] == [201, 201]
        ApiClient().post("/join/invitation", {"token": "probe-for-404-logging"})
    finally:
        connection.force_debug_cursor = False

    texts = [message.text for message in sms_outbox.messages]
    codes = [match for text in texts for match in re.findall(r"\b\d{6}\b", text)]
    join_tokens = [match for text in texts for match in re.findall(r"/j/([A-Za-z0-9_-]+)", text)]
    assert len(codes) == 2 and len(join_tokens) == 1  # join code, recovery code; one invitation
    # Two verifications (join, recovery); sessions: the founder's, the join's, five
    # logins and the API's password change.
    assert len(set(handed_out)) == len(handed_out) >= 8, handed_out
    assert api_session_key in handed_out
    assert cycled_session_key != cookie_session_key
    secrets = [
        *NUMBER_FORMS, *codes, *join_tokens, *handed_out, cookie_session_key,
        cycled_session_key, PASSWORD, "a brand new passphrase", "a changed passphrase",
        "the final passphrase", IDEMPOTENCY_KEY,
    ]

    dump = database_dump()
    assert "Newcomer Boris" in dump  # the dump does contain the data
    assert secrets_found(dump, secrets) == []

    # As a handler would write them: message, arguments and any traceback.
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logs = "\n".join(formatter.format(record) for record in caplog.records)
    assert "SELECT" in logs  # SQL was logged at DEBUG
    assert secrets_found(logs, secrets) == []


def test_log_redaction_blanks_numbers_and_join_links(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("inviteonly.test").info(
        "careless line: %s, %s, %s", "+7 916 123-45-67", "79161234567", "/j/AbCdEf0123456789"
    )
    message = caplog.records[-1].getMessage()
    assert "916" not in message and "AbCdEf" not in message
    assert message == "careless line: [phone], [phone], /j/[token]"


@pytest.mark.parametrize("typed", [
    "8 916 123-45-67", "8 (916) 123-45-67", "8(916)123-45-67", "916 000-00-01",
    "(415) 555-2671", "415-555-2671", "415.555.2671", "+7%20916%20123-45-67",
    "8%20916%20123%2045%2067",
    # Copied from a page: no-break spaces, non-breaking hyphens.
    "8\u00a0916\u00a0123-45-67", "8 916 123\u201145\u201167", "+7 916 123\u201145\u201167",
    # After a date, which is kept: "2026-11-30 [phone]".
    "2026-11-30 8 916 123-45-67",
])
def test_log_redaction_blanks_numbers_in_national_format(
    caplog: pytest.LogCaptureFixture, typed: str
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("inviteonly.test").warning("Not Found: /members/%s", typed)
    kept = "2026-11-30 " if typed.startswith("2026-11-30 ") else ""
    assert caplog.records[-1].getMessage() == f"Not Found: /members/{kept}[phone]"


def test_log_redaction_leaves_times_addresses_and_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    line = ("2026-11-30 17:28:06 from 203.0.113.7 port 51234: GET /api/members/123/wall "
            "200 1234, v3.40.1, at 17:28 on 30.11.2026; proxy 10.0.0.1 10.20.30.40, "
            "peer 203.0.113.7 51234")
    logging.getLogger("inviteonly.test").warning(line)
    assert caplog.records[-1].getMessage() == line


def test_log_redaction_blanks_tracebacks_and_stacks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    try:
        raise ValueError("cannot route +79161234567")
    except ValueError:
        logging.getLogger("inviteonly.test").exception("delivery failed")
    logging.getLogger("inviteonly.test").info("here", stack_info=True)  # +7 916 123-45-67
    logs = logging.Formatter("%(message)s").format(caplog.records[0])
    assert "delivery failed" in logs
    assert "ValueError: cannot route [phone]" in logs
    assert "79161234567" not in logs
    assert caplog.records[0].exc_info is None  # no handler gets the raw exception
    # A stack quotes source lines, this one's comment included.
    stack = logging.Formatter().format(caplog.records[1])
    assert "Stack (most recent call last)" in stack and "# [phone]" in stack
    assert "916" not in stack


def test_status_page_token_is_blanked_where_django_logs_the_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    submitted = do_request_invitation(phone="+79161234567", note="A friend", language="en")
    # Posted without a CSRF token: Django refuses it and logs the path.
    refused = Client(enforce_csrf_checks=True).post(f"/ask/{submitted.status_token}")
    assert refused.status_code == 403
    logs = "\n".join(record.getMessage() for record in caplog.records)
    assert "/ask/[token]" in logs
    assert submitted.status_token not in logs


def test_log_redaction_blanks_delivery_report_tokens(caplog: pytest.LogCaptureFixture) -> None:
    """Django logs the path of every refused request: a report URL's token is a
    credential (Kannel's endpoint checks nothing else)."""
    caplog.set_level(logging.INFO)
    token = "627a9c99e75622f8bd7089fbc8e56f91f45352a94cfdfbdc2370c4b492185a80"
    logging.getLogger("inviteonly.test").warning(
        "Forbidden: %s; Not Found: %s", f"/sms/twilio/12/{token}/",
        f"http://site.example/sms/kannel/3456/{token}/?type=8",
    )
    message = caplog.records[-1].getMessage()
    assert message == (
        "Forbidden: /sms/twilio/12/[token]/; "
        "Not Found: http://site.example/sms/kannel/3456/[token]/?type=8"
    )


def test_moving_to_a_new_number_leaves_neither_number_in_plaintext(
    sms_outbox: SmsOutbox, caplog: pytest.LogCaptureFixture,
) -> None:
    for logger in ("", "django", "inviteonly"):
        caplog.set_level(logging.DEBUG, logger=logger)
    member = make_member(phone="+79160000001", display_name="Moving Vera")
    client = ApiClient()
    session_token = client.log_in("+79160000001").json_body["session_token"]
    connection.force_debug_cursor = True
    try:
        started = client.post("/me/phone", {"password": PASSWORD, "phone": "+1 415 555 2671"})
        assert started.status_code == 202, started.json_body
        code = sms_outbox.code_for(US_NUMBER)
        moved = client.post("/me/phone/confirm", {
            "verification_token": started.json_body["verification_token"], "code": code,
        })
        assert moved.status_code == 200, moved.json_body
        assert len(sms_outbox.to("+79160000001")) == 1  # the old number was told
    finally:
        connection.force_debug_cursor = False
    member.refresh_from_db()
    assert member.phone_masked == "+1 415-***-**71"
    secrets = [*NUMBER_FORMS, code, started.json_body["verification_token"], session_token,
               PASSWORD]
    dump = database_dump()
    assert "Moving Vera" in dump
    assert secrets_found(dump, secrets) == []
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logs = "\n".join(formatter.format(record) for record in caplog.records)
    assert "UPDATE" in logs
    assert secrets_found(logs, secrets) == []
