"""Delivery reports: what the gateways tell us after they took a message.

Kannel calls a per-message URL (``dlr-url``) that carries an HMAC of the message id
under the token key, so nobody can mark someone else's message delivered; Twilio
calls a status callback signed with the account's auth token; the SMPP gateway reads
``deliver_sm`` receipts on its own connection. All end in ``record_delivery_report``.

A report also settles a message a dead worker left in doubt: a "sent" report marks
it sent, so it is not claimed and sent again once its lease runs out.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from django.conf import settings
from django.db.models import Q, Value
from django.db.models.functions import Coalesce

from inviteonly.lib import clock, crypto
from inviteonly.sms.models import OutboundSms, SmsStatus

logger = logging.getLogger(__name__)

_TOKEN_CONTEXT = "sms-delivery-report"  # noqa: S105  (a label, not a secret)


class ReportOutcome(StrEnum):
    # The gateway or the operator's network took it (Kannel DLR 8, Twilio "sent").
    SENT = "sent"
    # The phone has it (Kannel DLR 1, Twilio "delivered", SMPP DELIVRD).
    DELIVERED = "delivered"
    # The network or the phone refused it (Kannel DLR 2/16, Twilio "undelivered").
    FAILED = "failed"


def delivery_report_token(message_id: int) -> str:
    return crypto.token_digest(str(message_id), context=_TOKEN_CONTEXT)


def delivery_report_token_is_valid(message_id: int, token: str) -> bool:
    return crypto.digests_equal(delivery_report_token(message_id), token)


def delivery_report_url(message_id: int, *, gateway: str) -> str:
    """Where ``gateway`` reports on message ``message_id`` (see inviteonly/urls.py)."""
    token = delivery_report_token(message_id)
    return f"{settings.SMS_DELIVERY_REPORT_BASE_URL}/sms/{gateway}/{message_id}/{token}/"


# Which statuses each report may move a message out of: a late "sent" never undoes
# "delivered", and nothing reopens a final answer.
_MOVES_FROM = {
    ReportOutcome.SENT: [SmsStatus.QUEUED, SmsStatus.SENDING],
    ReportOutcome.DELIVERED: [SmsStatus.QUEUED, SmsStatus.SENDING, SmsStatus.SENT],
    ReportOutcome.FAILED: [SmsStatus.QUEUED, SmsStatus.SENDING, SmsStatus.SENT],
}


def record_delivery_report(
    *,
    outcome: ReportOutcome,
    message_id: int | None = None,
    gateway: str = "",
    gateway_message_id: str = "",
    detail: str = "",
) -> bool:
    """Record what a gateway reported about one message, named by our id or by the
    gateway's (``gateway`` + ``gateway_message_id``). One conditional UPDATE, so
    reports arriving twice or out of order are harmless. Clearing the claim keeps a
    worker still holding the message from overwriting the report. True if it changed
    the message."""
    if message_id is not None:
        which = Q(id=message_id)
    elif gateway and gateway_message_id:
        which = Q(gateway=gateway, gateway_message_id=gateway_message_id)
    else:
        raise ValueError("name the message by our id or by the gateway's")
    now = clock.now()
    changes: dict[str, object] = {
        "status": SmsStatus(outcome.value),
        "claim": "",
        # Every report means the gateway has had the text: it is no longer needed.
        "text_ciphertext": None,
        # Set by the first report if the worker that sent the message died first.
        "sent_at": Coalesce("sent_at", Value(now)),
    }
    if gateway:
        changes["gateway"] = gateway
    if outcome == ReportOutcome.DELIVERED:
        changes["delivered_at"] = now
    if outcome == ReportOutcome.FAILED:
        changes["last_error"] = (detail or "not delivered (delivery report)")[:200]
    updated = OutboundSms.objects.filter(which, status__in=_MOVES_FROM[outcome]).update(**changes)
    if outcome == ReportOutcome.FAILED and updated:
        logger.info("SMS %s reported not delivered: %s", message_id or gateway_message_id,
                    detail[:100])
    return bool(updated)
