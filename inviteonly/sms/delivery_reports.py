"""Delivery reports: what the gateways tell us after they took a message.

Kannel calls a per-message URL (``dlr-url``) that carries an HMAC of the gateway's name
and the message id under the token key, so nobody can mark someone else's message
delivered; Twilio calls a status callback with its own such token, also signed with
the account's auth token; the SMPP gateway reads ``deliver_sm`` receipts on its own
connection, one per part of a long message, each named by the id the SMSC gave the
part (``SmsPart``), so that any worker's bind matches it, after any restart (see
``record_part_report``). All end in ``record_delivery_report``, which changes a message only if it
went through the gateway that reports: a token seen in one gateway's URL (a Twilio
callback in Twilio's console, in a proxy's log) is worth nothing at another's endpoint.

Kannel signs nothing: its report type (delivered, not delivered) is Kannel's ``%d``
in the query string, which anybody holding a report URL could change. Its reports
are taken only from smsbox's addresses (``KANNEL_DELIVERY_REPORT_SOURCES``), and no
report moves a message backwards or reopens a final answer. Refused reports are
logged, without their tokens, at most once a minute.

A report also settles a message a dead worker left in doubt: a "sent" report marks
it sent, so it is not claimed and sent again once its lease runs out.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import threading
import time
from enum import StrEnum

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce

from inviteonly.invitation_requests.actions import settle_undelivered_invitations
from inviteonly.lib import clock, crypto
from inviteonly.sms.models import OutboundSms, SmsPart, SmsPurpose, SmsStatus

logger = logging.getLogger(__name__)

_TOKEN_CONTEXT = "sms-delivery-report"  # noqa: S105  (a label, not a secret)


class ReportOutcome(StrEnum):
    # The gateway or the operator's network took it (Kannel DLR 8, Twilio "sent").
    SENT = "sent"
    # The phone has it (Kannel DLR 1, Twilio "delivered", SMPP DELIVRD).
    DELIVERED = "delivered"
    # The network or the phone refused it (Kannel DLR 2/16, Twilio "undelivered").
    FAILED = "failed"


def delivery_report_token(message_id: int, *, gateway: str) -> str:
    """The token in ``gateway``'s report URL for message ``message_id``."""
    return crypto.token_digest(f"{gateway}:{message_id}", context=_TOKEN_CONTEXT)


def _token_before_gateways_were_named(message_id: int) -> str:
    # Before tokens named their gateway, every gateway was given this one token per
    # message, and reports on messages in flight at the upgrade still carry it. It is
    # taken only for the gateway the message went through, like a new token: a copy
    # seen in one gateway's URL opens no other gateway's endpoint.
    return crypto.token_digest(str(message_id), context=_TOKEN_CONTEXT)


def delivery_report_is_authentic(message_id: int, token: str, *, gateway: str) -> bool:
    """True if ``token`` is what ``gateway`` was given for message ``message_id``: only
    a worker handing the message to ``gateway`` puts it in a URL. (A message whose
    worker died after handing it over has no gateway recorded yet; its gateway's
    report is taken all the same, and settles it.) A token from before tokens named
    their gateway counts only for the gateway the message is recorded as sent through."""
    if crypto.digests_equal(delivery_report_token(message_id, gateway=gateway), token):
        return True
    return crypto.digests_equal(
        _token_before_gateways_were_named(message_id), token
    ) and OutboundSms.objects.filter(id=message_id, gateway=gateway).exists()


def kannel_may_report(address: str | None) -> bool:
    """True if a report from ``address`` (the caller, as ``lib.web.client_ip`` sees it)
    comes from smsbox: Kannel puts no signature on the report type, only the caller's
    address vouches for it."""
    if address is None:
        return False
    caller = ipaddress.ip_address(address)
    return any(caller in network for network in settings.KANNEL_DELIVERY_REPORT_SOURCES)


# Refused reports are logged once a minute at most, with how many went unlogged: a
# flood of forged ones (each costs a constant-time comparison, nothing more) must not
# flood the log.
REFUSED_LOG_INTERVAL = 60.0
_monotonic = time.monotonic
_refused_lock = threading.Lock()
_refused = {"logged_at": -REFUSED_LOG_INTERVAL, "unlogged": 0}


def forget_refused_reports() -> None:
    """For tests: the next refused report is logged."""
    with _refused_lock:
        _refused.update(logged_at=-REFUSED_LOG_INTERVAL, unlogged=0)


def log_refused_report(
    *, gateway: str, message_id: int, reason: str, address: str | None
) -> None:
    """Note a refused report: the message, why, from where; never the URL's token."""
    with _refused_lock:
        now = _monotonic()
        if now - _refused["logged_at"] < REFUSED_LOG_INTERVAL:
            _refused["unlogged"] += 1
            return
        unlogged = int(_refused["unlogged"])
        _refused.update(logged_at=now, unlogged=0)
    logger.warning(
        "%s delivery report for SMS %s from %s refused: %s%s", gateway, message_id,
        address or "an unknown address", reason,
        f" ({unlogged} more refused since the last of these lines)" if unlogged else "",
    )


def delivery_report_url(message_id: int, *, gateway: str, token: str | None = None) -> str:
    """Where ``gateway`` reports on message ``message_id`` (see inviteonly/urls.py);
    with ``token``, the URL that carries that one (as a report came in with it)."""
    token = token or delivery_report_token(message_id, gateway=gateway)
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
    gateway: str,
    message_id: int | None = None,
    gateway_message_id: str = "",
    detail: str = "",
) -> bool:
    """Record what ``gateway`` reported about one message, named by our id or by the
    gateway's. A message recorded as sent through another gateway does not change; one
    with no gateway recorded yet (its report came first, or its worker died) takes
    this one. One conditional UPDATE, so reports arriving twice or out of order are
    harmless. Clearing the claim keeps a worker still holding the message from
    overwriting the report. True if it changed the message."""
    if not gateway:
        raise ValueError("name the gateway that reports")
    if message_id is not None:
        which = Q(id=message_id) & (Q(gateway=gateway) | Q(gateway=""))
    elif gateway_message_id:
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
        "gateway": gateway,
    }
    if outcome == ReportOutcome.DELIVERED:
        changes["delivered_at"] = now
    if outcome == ReportOutcome.FAILED:
        changes["last_error"] = (detail or "not delivered (delivery report)")[:200]
    updated = OutboundSms.objects.filter(which, status__in=_MOVES_FROM[outcome]).update(**changes)
    if outcome == ReportOutcome.FAILED and updated:
        logger.info("SMS %s reported not delivered: %s", message_id or gateway_message_id,
                    detail[:100])
        # An invitation granted on a request: its requester and granter learn of it.
        settle_undelivered_invitations(sms_ids=list(
            OutboundSms.objects.filter(which, purpose=SmsPurpose.INVITATION)
            .values_list("id", flat=True)
        ))
    return bool(updated)


def keep_part(*, message_id: int, number: int, count: int, gateway_message_id: str) -> None:
    """Keep the SMSC's id for part ``number`` of ``count`` of message ``message_id`` as
    soon as the SMSC answers with it: before its receipt can arrive, on this bind or
    another worker's. A message sent again replaces its parts' ids."""
    # A message no longer in the outbox (a foreign key refused): nothing to report on.
    with contextlib.suppress(IntegrityError):
        SmsPart.objects.bulk_create(
            [SmsPart(sms_id=message_id, number=number, count=count,
                     gateway_message_id=gateway_message_id, submitted_at=clock.now())],
            update_conflicts=True, unique_fields=["sms", "number"],
            update_fields=["count", "gateway_message_id", "delivered", "submitted_at"],
        )


def sweep_undecided_parts() -> int:
    """Delete the parts whose receipts have not decided their message
    SMS_PART_RECEIPT_WAIT after the SMSC took them (part of `inviteonly sweep`): the
    SMSC has stopped trying by then, and a receipt never asked for or lost would keep
    them for ever. The message stays sent, as one whose receipt never came."""
    deleted, _ = SmsPart.objects.filter(
        submitted_at__lt=clock.now() - settings.SMS_PART_RECEIPT_WAIT
    ).delete()
    return deleted


def record_part_report(
    *, outcome: ReportOutcome, gateway: str, gateway_message_id: str, detail: str = ""
) -> bool:
    """Record a receipt for one part of a message, named by the id the SMSC gave the
    part: the message is delivered once every part is, and failed as soon as any part
    is not (its text cannot be whole on the phone). The parts are rows (``keep_part``),
    so it does not matter which worker's bind the receipts arrive on, nor whether the
    worker that sent the message restarted since. A receipt for a message sent before
    its parts were kept is matched by the first part's id, kept with the message, and
    decides alone. Receipts sent twice count once. True if it changed the message."""
    # The newest part under that id: an SMSC may use its ids again, years apart.
    part = SmsPart.objects.filter(gateway_message_id=gateway_message_id).order_by("-id").first()
    if part is None:
        return record_delivery_report(
            outcome=outcome, gateway=gateway, gateway_message_id=gateway_message_id,
            detail=detail,
        )
    with transaction.atomic():
        # One receipt of a message at a time, on whichever bind: each counts the parts
        # the others marked delivered.
        list(OutboundSms.objects.select_for_update().filter(id=part.sms_id).values_list("id"))
        if outcome == ReportOutcome.DELIVERED:
            SmsPart.objects.filter(id=part.id).update(delivered=True)
            delivered = SmsPart.objects.filter(sms_id=part.sms_id, delivered=True).count()
            if delivered < part.count:
                return False
        changed = record_delivery_report(
            outcome=outcome, message_id=part.sms_id, gateway=gateway, detail=detail
        )
        # Decided: a later receipt of another part finds no part and changes nothing
        # (one of the first part is matched by the message's id, and changes nothing).
        SmsPart.objects.filter(sms_id=part.sms_id).delete()
    return changed
