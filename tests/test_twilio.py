"""The twilio gateway against a local HTTP server that answers like Twilio's Messages API
and calls back like Twilio does: signed status callbacks mark messages delivered or
failed; unsigned or wrongly signed ones change nothing."""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
import urllib.request
from base64 import b64decode
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from inviteonly.lib import crypto
from inviteonly.lib.phone_numbers import normalize_phone_number
from inviteonly.sms.delivery import deliver_due_messages
from inviteonly.sms.delivery_reports import delivery_report_token, delivery_report_url
from inviteonly.sms.gateways import reset_gateways
from inviteonly.sms.gateways.twilio import TwilioGateway
from inviteonly.sms.models import OutboundSms, SmsPurpose, SmsStatus
from inviteonly.sms.outbox import queue_sms
from tests.conftest import SmsOutbox

pytestmark = pytest.mark.django_db

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "twilio-test-auth-token"
SENDER = "+14155550100"
INVALID_NUMBER = "+12015550199"  # the fake API answers 400, code 21211
BUSY_NUMBER = "+12015550198"  # the fake API answers 429
QUEUE_FULL_NUMBER = "+12015550197"  # the fake API answers 400, code 21611


class FakeTwilio(BaseHTTPRequestHandler):
    created: list[dict[str, str]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        user, _, password = b64decode(
            self.headers.get("Authorization", "Basic ").split(" ", 1)[1]
        ).decode().partition(":")
        expected_path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        if (user, password) != (ACCOUNT_SID, AUTH_TOKEN) or self.path != expected_path:
            return self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
        if form.get("To") == INVALID_NUMBER:
            return self._answer(400, {"code": 21211, "message": "Invalid 'To' Phone Number",
                                      "status": 400})
        if form.get("To") == QUEUE_FULL_NUMBER:
            return self._answer(400, {"code": 21611, "status": 400, "message": (
                "This 'From' number has exceeded the maximum number of queued messages")})
        if form.get("To") == BUSY_NUMBER:
            return self._answer(429, {"code": 20429, "message": "Too Many Requests",
                                      "status": 429})
        sid = f"SM{len(self.created):032x}"
        self.created.append({**form, "Sid": sid})
        self._answer(201, {"sid": sid, "status": "queued", "to": form.get("To"),
                           "from": form.get("From"), "body": form.get("Body"),
                           "account_sid": ACCOUNT_SID})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def twilio(settings: Any) -> Iterator[TwilioGateway]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeTwilio.created = []
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.SMS_SENDER_ID = SENDER
    reset_gateways()
    yield TwilioGateway()
    server.shutdown()
    server.server_close()
    reset_gateways()


def queued(number: str, text: str = "123456 is your code") -> OutboundSms:
    return queue_sms(
        phone=normalize_phone_number(number), text=text, purpose=SmsPurpose.JOIN_CODE
    )


def callback(message: OutboundSms, status: str, *, signed_with: str = AUTH_TOKEN) -> int:
    """What Twilio POSTs to the status callback URL, signed as Twilio signs it."""
    url = delivery_report_url(message.id, gateway="twilio")
    form = {"MessageSid": message.gateway_message_id, "MessageStatus": status,
            "AccountSid": ACCOUNT_SID}
    if status == "undelivered":
        form["ErrorCode"] = "30003"
    signature = RequestValidator(signed_with).compute_signature(url, form)
    response = Client().post(
        urllib.parse.urlsplit(url).path, form, headers={"X-Twilio-Signature": signature}
    )
    message.refresh_from_db()
    return int(response.status_code)


def test_a_message_goes_to_twilio_and_its_callbacks_mark_it_delivered(
    twilio: TwilioGateway,
) -> None:
    message = queued("+14155550123", "Привет! 123456 is your code")
    deliver_due_messages(gateway=twilio)
    message.refresh_from_db()
    [created] = FakeTwilio.created
    assert (created["To"], created["From"]) == ("+14155550123", SENDER)
    assert created["Body"] == "Привет! 123456 is your code"
    assert created["StatusCallback"] == delivery_report_url(message.id, gateway="twilio")
    assert message.status == SmsStatus.SENT and message.gateway_message_id == created["Sid"]
    assert message.sender_id == SENDER
    assert callback(message, "sent") == 204
    assert callback(message, "delivered") == 204
    assert message.status == SmsStatus.DELIVERED


def test_an_undelivered_callback_fails_the_message(twilio: TwilioGateway) -> None:
    message = queued("+14155550124")
    deliver_due_messages(gateway=twilio)
    message.refresh_from_db()
    assert callback(message, "undelivered") == 204
    assert message.status == SmsStatus.FAILED and "30003" in message.last_error


def test_callbacks_without_the_right_signature_change_nothing(twilio: TwilioGateway) -> None:
    message = queued("+14155550125")
    deliver_due_messages(gateway=twilio)
    message.refresh_from_db()
    assert callback(message, "failed", signed_with="somebody-elses-token") == 403
    path = urllib.parse.urlsplit(delivery_report_url(message.id, gateway="twilio")).path
    assert Client().post(path, {"MessageStatus": "failed"}).status_code == 403
    message.refresh_from_db()
    assert message.status == SmsStatus.SENT


def test_an_invalid_number_fails_for_good_and_a_busy_api_means_retry(
    twilio: TwilioGateway,
) -> None:
    invalid = queued(INVALID_NUMBER)
    busy = queued(BUSY_NUMBER)
    # A 400 too, but about the sender's queue at Twilio, which drains: not this number.
    queue_full = queued(QUEUE_FULL_NUMBER)
    deliver_due_messages(gateway=twilio)
    for message in (invalid, busy, queue_full):
        message.refresh_from_db()
    assert invalid.status == SmsStatus.FAILED and "21211" in invalid.last_error
    assert busy.status == SmsStatus.QUEUED and "429" in busy.last_error
    assert queue_full.status == SmsStatus.QUEUED and "21611" in queue_full.last_error
    assert FakeTwilio.created == []


def test_twilio_unreachable_means_retry(settings: Any) -> None:
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.SMS_SENDER_ID = SENDER
    message = queued("+14155550126")
    deliver_due_messages(gateway=TwilioGateway())
    message.refresh_from_db()
    assert message.status == SmsStatus.QUEUED and "unreachable" in message.last_error


def test_the_status_callback_token_does_not_open_the_kannel_endpoint(
    twilio: TwilioGateway,
) -> None:
    """Anyone may see a StatusCallback URL (Twilio's console, a proxy's log): its token
    is Twilio's alone, and Kannel's endpoint, which has no signature to check, takes no
    report about a message that went through Twilio."""
    message = queued("+14155550127")
    deliver_due_messages(gateway=twilio)
    [created] = FakeTwilio.created
    kannel_path = urllib.parse.urlsplit(created["StatusCallback"]).path.replace(
        "/sms/twilio/", "/sms/kannel/"
    )
    for report_type in ("16", "8", "1"):
        assert Client().get(kannel_path, {"type": report_type}).status_code == 403
    message.refresh_from_db()
    assert (message.status, message.gateway, message.last_error) == (
        SmsStatus.SENT, "twilio", ""
    )
    assert callback(message, "delivered") == 204
    assert message.status == SmsStatus.DELIVERED


def test_a_callback_with_another_gateways_token_is_refused(
    twilio: TwilioGateway, sms_outbox: SmsOutbox
) -> None:
    """Only a worker handing a message to Twilio puts its Twilio token in a URL; a
    Kannel token (or one of before tokens named their gateway) opens nothing here,
    even signed."""
    waiting = queued("+14155550128")
    for token in (delivery_report_token(waiting.id, gateway="kannel"),
                  crypto.token_digest(str(waiting.id), context="sms-delivery-report")):
        url = delivery_report_url(waiting.id, gateway="twilio", token=token)
        form = {"MessageSid": "SM1", "MessageStatus": "sent", "AccountSid": ACCOUNT_SID}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
        answer = Client().post(
            urllib.parse.urlsplit(url).path, form, headers={"X-Twilio-Signature": signature}
        )
        assert answer.status_code == 403
    waiting.refresh_from_db()
    assert waiting.status == SmsStatus.QUEUED and waiting.text_ciphertext is not None
    sms_outbox.deliver()  # through the memory gateway
    # Twilio's own token, signed, changes nothing on a message another gateway sent.
    assert callback(waiting, "failed") == 204
    assert (waiting.status, waiting.gateway) == (SmsStatus.SENT, "memory")


def test_a_refused_callback_is_logged_without_its_token(
    twilio: TwilioGateway, caplog: pytest.LogCaptureFixture
) -> None:
    message = queued("+14155550129")
    deliver_due_messages(gateway=twilio)
    path = urllib.parse.urlsplit(delivery_report_url(message.id, gateway="twilio")).path
    token = path.rstrip("/").rsplit("/", 1)[1]
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert Client().post(path, {"MessageStatus": "failed"}).status_code == 403
    [line] = [record.getMessage() for record in caplog.records
              if record.name == "django.request"]
    assert line == f"Forbidden: /sms/twilio/{message.id}/[token]/"
    assert token[:16] not in caplog.text


def test_a_callback_to_a_url_handed_out_before_the_upgrade_is_still_taken(
    twilio: TwilioGateway,
) -> None:
    """Messages in flight at the upgrade have URLs whose token is an HMAC of the message
    id alone (the same for every gateway): Twilio signs that URL, and it is taken here,
    for messages that went through Twilio."""
    message = queued("+14155550130")
    deliver_due_messages(gateway=twilio)
    message.refresh_from_db()
    old_token = crypto.token_digest(str(message.id), context="sms-delivery-report")
    old_url = f"http://testserver/sms/twilio/{message.id}/{old_token}/"
    form = {"MessageSid": message.gateway_message_id, "MessageStatus": "delivered",
            "AccountSid": ACCOUNT_SID}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(old_url, form)
    answer = Client().post(urllib.parse.urlsplit(old_url).path, form,
                           headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 204
    message.refresh_from_db()
    assert message.status == SmsStatus.DELIVERED
