"""Delivering queued SMS: what ``inviteonly worker`` (and the worker inside ``serve``) runs.

A batch of due messages is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` on
PostgreSQL (so parallel workers never take the same row); on SQLite the IMMEDIATE
transaction serialises workers. A message leaves the queue only in the transaction
that records the gateway's answer, so a worker that dies mid-batch loses nothing.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, transaction

from inviteonly.lib import clock, crypto
from inviteonly.sms.gateways import GatewayError, SmsGateway, get_gateway
from inviteonly.sms.models import OutboundSms, SmsStatus

logger = logging.getLogger(__name__)


def _retry_delay(attempts: int) -> timedelta:
    # Exponential backoff with full jitter: base · 2^(n-1) · U(0.5, 1.5).
    jitter = 0.5 + secrets.randbelow(1000) / 1000
    return settings.SMS_RETRY_BASE_DELAY * (2 ** (attempts - 1)) * jitter


def _deliver_one(message: OutboundSms, gateway: SmsGateway) -> None:
    now = clock.now()
    message.attempts += 1
    message.gateway = gateway.name
    update_fields = ["attempts", "gateway", "status", "last_error"]
    try:
        if message.text_ciphertext is None:
            raise GatewayError("message text is gone", retryable=False)
        receipt = gateway.send(
            to=crypto.decrypt(message.recipient_ciphertext, purpose=crypto.Purpose.PHONE_NUMBER),
            text=crypto.decrypt(message.text_ciphertext, purpose=crypto.Purpose.SMS_TEXT),
            reference=str(message.id),
        )
    except GatewayError as error:
        message.last_error = str(error)[:200]
        if error.retryable and message.attempts < settings.SMS_MAX_ATTEMPTS:
            message.next_attempt_at = now + _retry_delay(message.attempts)
            update_fields.append("next_attempt_at")
        else:
            message.status = SmsStatus.FAILED
            message.text_ciphertext = None
            update_fields.append("text_ciphertext")
        logger.warning(
            "SMS %s to %s not sent (attempt %s): %s",
            message.id, message.recipient_masked, message.attempts, message.last_error,
        )
    else:
        message.status = SmsStatus.SENT
        message.sent_at = now
        message.gateway_message_id = receipt.gateway_message_id
        message.last_error = ""
        # The text holds a code or a join link: once the gateway has it, we drop it.
        message.text_ciphertext = None
        update_fields += ["sent_at", "gateway_message_id", "text_ciphertext"]
    message.save(update_fields=update_fields)


def deliver_due_messages(*, limit: int | None = None, gateway: SmsGateway | None = None) -> int:
    """Deliver one batch of due messages; return how many were attempted."""
    gateway = gateway or get_gateway()
    with transaction.atomic():
        batch = list(
            OutboundSms.objects.select_for_update(skip_locked=True)
            .filter(status=SmsStatus.QUEUED, next_attempt_at__lte=clock.now())
            .order_by("next_attempt_at", "id")[: limit or settings.SMS_WORKER_BATCH_SIZE]
        )
        for message in batch:
            _deliver_one(message, gateway)
    return len(batch)


def run_delivery_worker(stop: threading.Event) -> None:
    """Deliver until ``stop`` is set, sleeping while the queue is empty."""
    logger.info("SMS delivery worker started (gateway: %s)", settings.SMS_GATEWAY)
    while not stop.is_set():
        try:
            delivered = deliver_due_messages()
        except Exception:
            logger.exception("SMS delivery batch failed; retrying")
            delivered = 0
        finally:
            close_old_connections()
        if not delivered:
            stop.wait(settings.SMS_WORKER_POLL_SECONDS)
    logger.info("SMS delivery worker stopped")
