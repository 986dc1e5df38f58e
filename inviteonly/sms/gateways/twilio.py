"""Twilio's Messages API through the official client, with a per-message status callback.

Twilio answers a create with the message SID; it later POSTs the message's status to
the ``StatusCallback`` URL we gave (sms/views.py checks its ``X-Twilio-Signature``
with the auth token, and the HMAC token in the URL). Twilio picks GSM-7 or UCS-2 and
splits long texts itself.

Twilio's answers: 400 means this message cannot go (an invalid or unreachable
number, a region the account may not send to) — permanent, but for code 21611 (the
sender's queue at Twilio is full, which drains); 401/403/404 are the operator's
configuration, 429 and 5xx are passing — retryable, as is no answer.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from inviteonly.sms.delivery_reports import delivery_report_url
from inviteonly.sms.gateways import GatewayError, SmsReceipt

TWILIO_API = "https://api.twilio.com"

# Error codes Twilio answers with 400 that are about the moment, not the message: the
# sender number's queue is full ("exceeded the maximum number of queued messages").
RETRYABLE_ERROR_CODES = frozenset({21611})


class _RedirectingHttpClient(TwilioHttpClient):
    """Sends the client's requests to TWILIO_API_BASE_URL instead (a test server)."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return super().request(method, url.replace(TWILIO_API, self._base_url, 1),
                                *args, **kwargs)


class TwilioGateway:
    name = "twilio"

    def __init__(self) -> None:
        http_client: TwilioHttpClient
        if settings.TWILIO_API_BASE_URL:
            http_client = _RedirectingHttpClient(
                settings.TWILIO_API_BASE_URL, timeout=settings.SMS_GATEWAY_TIMEOUT
            )
        else:
            http_client = TwilioHttpClient(timeout=settings.SMS_GATEWAY_TIMEOUT)
        self._client = Client(
            settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client
        )

    def send(self, *, to: str, text: str, reference: str, sender_id: str = "") -> SmsReceipt:
        if not sender_id:
            raise GatewayError("twilio needs a sender number (SMS_SENDER_ID or a route)",
                               retryable=True)
        try:
            message = self._client.messages.create(
                to=to,
                from_=sender_id,
                body=text,
                status_callback=delivery_report_url(int(reference), gateway="twilio"),
            )
        except TwilioRestException as error:
            reason = f"twilio answered {error.status} (code {error.code})"
            retryable = error.status != 400 or error.code in RETRYABLE_ERROR_CODES
            raise GatewayError(reason, retryable=retryable) from error
        except (TwilioException, OSError) as error:
            raise GatewayError(f"twilio unreachable: {type(error).__name__}",
                               retryable=True) from error
        return SmsReceipt(gateway_message_id=str(message.sid))
