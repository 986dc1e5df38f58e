"""Delivering queued SMS: what ``inviteonly worker`` (and the worker inside ``serve``) runs.

A batch of due messages is claimed by one statement (an ``UPDATE … RETURNING`` whose
subquery takes the rows ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so parallel workers
never take the same row) that marks them ``sending`` with a lease and this worker's
claim token; the gateway calls happen outside any transaction, each after renewing
the lease; each answer is recorded only while the claim is still this worker's. One
message that cannot be sent never holds up the others; retryable failures wait with
exponential backoff and jitter (at most SMS_RETRY_MAX_DELAY) until SMS_MAX_AGE (a
code: until VERIFICATION_CODE_TTL, when the code dies); a
message whose workers died SMS_MAX_ATTEMPTS times while holding it is failed.

A worker that dies leaves its claimed messages to come back when the lease runs out:
nothing is lost. Not sent twice either, where the gateway reports acceptance on its
own: Kannel calls our delivery-report URL with type 8 as soon as the SMSC took the
message, which marks it sent (sms/delivery_reports.py) long before the lease of a
dead worker runs out, so only messages Kannel never took are sent again. SMPP and
Twilio answer only to the caller: a worker killed between their answer and our
UPDATE leaves a message that is sent again (at most one per killed worker).
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections, connection
from django.db.models import F, Q

from inviteonly.invitation_requests.actions import settle_undelivered_invitations
from inviteonly.lib import clock, crypto
from inviteonly.lib.queries import columns_of, fetch_models, locking, update
from inviteonly.sms.gateways import (
    GatewayError,
    SmsGateway,
    gateways_in_use,
    get_gateway,
    route_for,
)
from inviteonly.sms.models import GatewayOutage, OutboundSms, SmsPurpose, SmsStatus

logger = logging.getLogger(__name__)


def _retry_delay(failures: int) -> timedelta:
    # Exponential backoff with full jitter: min(base · 2^(n-1), longest) · U(0.5, 1.5).
    # (The exponent stops growing long before the longest delay: no overflow.)
    jitter = 0.5 + secrets.randbelow(1000) / 1000
    delay = settings.SMS_RETRY_BASE_DELAY * 2 ** min(failures - 1, 30)
    return min(delay, settings.SMS_RETRY_MAX_DELAY) * jitter


def _longest_retry_delay() -> timedelta:
    """How long after a failure its message may be tried again: the longest delay at
    the most jitter."""
    return settings.SMS_RETRY_MAX_DELAY * 1.5


# One statement claims a batch and returns it. On PostgreSQL, FOR UPDATE SKIP LOCKED
# keeps parallel workers off each other's rows; SQLite runs one writer at a time.
# Written by hand: a worker claims after every batch (see lib/queries.py).
_DUE_SQL = (
    "SELECT id FROM sms_outboundsms "
    "WHERE status IN (%(queued)s, %(sending)s) AND next_attempt_at <= %(now)s "
    "AND attempts - failed_attempts < %(max_attempts)s "
    "ORDER BY next_attempt_at, id LIMIT %(limit)s"
)
_CLAIM_SQL = (
    "UPDATE sms_outboundsms SET status = %(sending)s, claim = %(claim)s, "  # noqa: S608
    "attempts = attempts + 1, next_attempt_at = %(lease_end)s "
    "WHERE {not_waiting}id IN ({due}) "
    f"RETURNING {columns_of(OutboundSms, 'sms_outboundsms')}, "
    # Whether any gateway is down (``GatewayOutage``, a handful of rows at most): the
    # outages are read only then, not once more for every batch.
    f"EXISTS (SELECT 1 FROM {GatewayOutage._meta.db_table}) AS any_gateway_down, "
    # Whether the message is the SMS of an invitation revoked since it was queued (its
    # inviter mistyped the number, or was banned, while the gateway was down): its
    # join link is dead, and it is not sent (the index of invitations.sms_id).
    "EXISTS (SELECT 1 FROM invitations_invitation i WHERE i.sms_id = sms_outboundsms.id "
    "AND i.revoked_at IS NOT NULL) AS invitation_revoked"
)


# On PostgreSQL a claim made on its own (outside any transaction, as a worker's always
# is) commits without waiting for the disk: synchronous_commit is off for its
# transaction alone. A claim lost in a crash of the database server only gives the
# message back to be sent again, as a crash between the gateway's answer and its
# record does anyway, and the record, whose commit waits, takes the claim to disk with
# it: one fsync per message instead of two (the fsyncs of this kind of disk now and
# then stall for a tenth of a second).
_NOT_WAITING_FOR_DISK = "set_config('synchronous_commit', 'off', true) IS NOT NULL AND "


def _claim_batch(limit: int, *, claim: str) -> list[OutboundSms]:
    """Claim due messages for this worker: mark them ``sending`` under this worker's
    ``claim`` token with a lease, and count the attempt (so a message that kills every
    worker that takes it ends up failed). The oldest due are taken; they come back in
    id order."""
    now = clock.now()
    due = locking(_DUE_SQL, skip_locked=True)
    on_its_own = connection.vendor == "postgresql" and not connection.in_atomic_block
    sql = _CLAIM_SQL.replace("{due}", due).replace(
        "{not_waiting}", _NOT_WAITING_FOR_DISK if on_its_own else ""
    )
    batch = fetch_models(OutboundSms, sql, {
        "sending": SmsStatus.SENDING, "queued": SmsStatus.QUEUED, "claim": claim,
        "lease_end": now + settings.SMS_SEND_LEASE, "now": now,
        # Abandoned by dying workers too often: `sweep_abandoned_messages` fails it.
        "max_attempts": settings.SMS_MAX_ATTEMPTS, "limit": limit,
    }, extra=["any_gateway_down", "invitation_revoked"])
    return sorted(batch, key=lambda message: message.id)


def sweep_abandoned_messages() -> int:
    """Fail messages whose every attempt was claimed by a worker that died: the message
    itself is the trouble (part of `inviteonly sweep`)."""
    return OutboundSms.objects.filter(
        status=SmsStatus.SENDING,
        next_attempt_at__lte=clock.now(),
        attempts__gte=F("failed_attempts") + settings.SMS_MAX_ATTEMPTS,
    ).update(status=SmsStatus.FAILED, text_ciphertext=None, last_error="abandoned by workers")


def sweep_gateway_outages() -> int:
    """Delete the outages that no longer count: of a gateway the configuration no
    longer names (its row would stay for ever, no message going through it to end
    it), or older than the longest retry delay. Otherwise every batch's claim finds
    a gateway down and reads the outages again (part of `inviteonly sweep`, which a
    worker runs when it starts)."""
    deleted, _ = GatewayOutage.objects.filter(
        ~Q(gateway__in=gateways_in_use())
        | Q(failed_at__lt=clock.now() - _longest_retry_delay())
    ).delete()
    return deleted


def _still_ours(message: OutboundSms, *, claim: str, claimed_at: datetime) -> bool:
    """Before sending: once half the lease has passed, renew it; false if another
    worker took the message over because this one was too slow."""
    now = clock.now()
    if now - claimed_at < settings.SMS_SEND_LEASE / 2:
        return True
    return bool(
        OutboundSms.objects.filter(id=message.id, claim=claim).update(
            next_attempt_at=now + settings.SMS_SEND_LEASE
        )
    )


# What an SMS carrying a code is worth once the code is dead: nothing but a confused
# reader (and a bill), so it is not sent after VERIFICATION_CODE_TTL.
_CODE_PURPOSES = frozenset({
    SmsPurpose.JOIN_CODE, SmsPurpose.RECOVERY_CODE, SmsPurpose.PHONE_CHANGE_CODE,
})


def _too_old(message: OutboundSms) -> GatewayError | None:
    """The failure of a message too old to send: past SMS_MAX_AGE, or a code past its
    life."""
    age = clock.now() - message.created_at
    if message.purpose in _CODE_PURPOSES and age > settings.VERIFICATION_CODE_TTL:
        return GatewayError("code not sent within VERIFICATION_CODE_TTL", retryable=False)
    if age > settings.SMS_MAX_AGE:
        return GatewayError("not sent within SMS_MAX_AGE", retryable=False)
    return None


def _send(message: OutboundSms, gateway: SmsGateway, *, sender_id: str) -> str:
    """Hand the message to the gateway; return its message id or raise GatewayError."""
    if message.text_ciphertext is None:
        raise GatewayError("message text is gone", retryable=False)
    too_old = _too_old(message)
    if too_old is not None:
        raise too_old
    try:
        to = crypto.decrypt(message.recipient_ciphertext, purpose=crypto.Purpose.PHONE_NUMBER)
        text = crypto.decrypt(message.text_ciphertext, purpose=crypto.Purpose.SMS_TEXT)
    except Exception as error:
        # A key missing from the ring may come back with the next deploy: retry.
        raise GatewayError(f"cannot decrypt: {type(error).__name__}", retryable=True) from error
    try:
        receipt = gateway.send(to=to, text=text, reference=str(message.id), sender_id=sender_id)
    except GatewayError:
        raise
    except Exception as error:
        # A gateway's unexpected failure is treated like a timeout: try again later.
        raise GatewayError(f"gateway failed: {type(error).__name__}", retryable=True) from error
    return receipt.gateway_message_id


def _record(
    message: OutboundSms, *, claim: str, gateway: SmsGateway,
    outcome: str | GatewayError | None, sender_id: str = "",
) -> bool:
    """Record what the gateway answered: its message id, or the error (for a suppressed
    message: the one its gateway gives real ones now); None: nothing was sent, the
    message is suppressed. False if the claim was no longer ours: nothing recorded."""
    now = clock.now()
    attempts = message.attempts  # counted when claimed
    changes: dict[str, object] = {"claim": "", "gateway": gateway.name, "sender_id": sender_id}
    if outcome is None:
        changes = {"claim": "", "status": SmsStatus.SUPPRESSED, "sent_at": now}
    elif isinstance(outcome, str):
        # The text holds a code or a join link: once the gateway has it, we drop it.
        changes |= {"status": SmsStatus.SENT, "sent_at": now, "gateway_message_id": outcome,
                    "last_error": "", "text_ciphertext": None}
    elif outcome.retryable:
        # However often: a gateway that is down loses nothing; SMS_MAX_AGE ends it.
        failures = message.failed_attempts + 1
        changes |= {"status": SmsStatus.QUEUED, "last_error": str(outcome)[:200],
                    "failed_attempts": failures, "next_attempt_at": now + _retry_delay(failures)}
    else:
        changes |= {"status": SmsStatus.FAILED, "last_error": str(outcome)[:200],
                    "text_ciphertext": None}
    if isinstance(outcome, GatewayError):
        logger.warning(
            "SMS %s to %s not sent (attempt %s): %s",
            message.id, message.recipient_masked, attempts, str(outcome)[:200],
        )
    # Only while our claim holds: a worker whose lease ran out does not overwrite, nor
    # does a delivery report that came first (it clears the claim).
    return bool(
        update(OutboundSms, changes, where="id = %s AND claim = %s", params=[message.id, claim])
    )


# The gateways that are down, as this worker last saw them: each one's last retryable
# failure on a real message, and when. A suppressed message takes its gateway's state
# (see ``_suppressed_outcome``), so that its sender never sees it as sent while the
# others wait: during an outage that would name every member's number invited. Every
# worker's failures are shared (``GatewayOutage``): this is read from them at each
# batch whose claim found one (``any_gateway_down``) and, for the gateways the batch
# sent nothing through, once its real messages are sent if it holds suppressed ones;
# it tells the worker which outages a success of its own ends (deleting the row). An
# outage counts until the gateway's next success, or until the failed message's retry
# is overdue without any news.
_gateway_down: dict[str, tuple[datetime, GatewayError]] = {}


def forget_gateway_states() -> None:
    """For tests: this worker's memory of the gateways is gone (the shared outages are
    rows, rolled back with each test)."""
    _gateway_down.clear()


def _read_gateway_states(*, except_for: frozenset[str] = frozenset()) -> None:
    """This worker's view of the gateways: every worker's outages (a row per gateway
    down, a handful at most), in one query; of the gateways ``except_for`` (which this
    worker has just had an answer from) it keeps its own news."""
    outages = GatewayOutage.objects.values_list("gateway", "failed_at", "error")
    own = {name: _gateway_down[name] for name in except_for if name in _gateway_down}
    _gateway_down.clear()
    _gateway_down.update({
        gateway: (failed_at, GatewayError(error, retryable=True))
        for gateway, failed_at, error in outages if gateway not in except_for
    })
    _gateway_down.update(own)


def _note_gateway_answer(gateway: SmsGateway, outcome: str | GatewayError) -> None:
    """Share what the gateway answered a real message: an outage begins or goes on at a
    retryable failure, and ends at a success (a write only for a gateway this worker
    saw down: most successes write nothing)."""
    if isinstance(outcome, str):
        if _gateway_down.pop(gateway.name, None) is not None:
            GatewayOutage.objects.filter(gateway=gateway.name).delete()
    elif outcome.retryable:
        now = clock.now()
        _gateway_down[gateway.name] = (now, outcome)
        GatewayOutage.objects.bulk_create(
            [GatewayOutage(gateway=gateway.name, failed_at=now, error=str(outcome)[:200])],
            update_conflicts=True, unique_fields=["gateway"], update_fields=["failed_at", "error"],
        )
    # A permanent refusal is about the message (its number), not the gateway.


def _suppressed_outcome(message: OutboundSms, gateway: SmsGateway) -> GatewayError | None:
    """What a suppressed message is recorded with: what its gateway answers real messages
    at the moment (a retryable failure while it is down), and once too old the failure
    a real one gets; None otherwise (recorded as suppressed, shown as sent). Asked only
    once the batch's real messages are answered (``deliver_due_messages``): the outage
    a real message meets first in the batch counts for a suppressed one before it."""
    now = clock.now()
    too_old = _too_old(message)
    if too_old is not None:
        return too_old
    down = _gateway_down.get(gateway.name)
    if down is not None and now - down[0] <= _longest_retry_delay():
        return down[1]
    return None


def deliver_due_messages(*, limit: int | None = None, gateway: SmsGateway | None = None) -> int:
    """Deliver one batch of due messages, each through its country's route (or all
    through ``gateway``); return how many were attempted."""
    claim = secrets.token_hex(16)
    claimed_at = clock.now()
    batch = _claim_batch(limit or settings.SMS_WORKER_BATCH_SIZE, claim=claim)
    if batch:
        # Which gateways other workers found down: a success here ends their outage.
        if getattr(batch[0], "any_gateway_down"):  # noqa: B009  (set by the claim)
            _read_gateway_states()
        else:
            _gateway_down.clear()
    # Invitation SMS this batch failed for good: settled once the batch is recorded.
    failed_invitations: list[int] = []
    # Suppressed messages are decided after every real one of the batch, wherever they
    # stand in it: one ahead of the real message that meets an outage first would
    # otherwise be shown as sent while a stranger's in its place waits. A gateway a
    # real one had an answer from is known by that answer; the others by every
    # worker's outages, as the claim found them if nothing was sent meanwhile, or else
    # read again then, once for the batch (another worker may have met one down since).
    answered: set[str] = set()
    outages_stale = False
    for message in sorted(batch, key=lambda message: message.suppressed):  # stable
        if not _still_ours(message, claim=claim, claimed_at=claimed_at):
            continue
        route = route_for(message.region)
        message_gateway = gateway or get_gateway(route.gateway)
        outcome: str | GatewayError | None
        if getattr(message, "invitation_revoked"):  # noqa: B009  (set by the claim)
            # Failed, whether suppressed or not: the sender sees the same for both.
            outcome = GatewayError("invitation revoked before it was sent", retryable=False)
        elif message.suppressed:
            if outages_stale and message_gateway.name not in answered:
                _read_gateway_states(except_for=frozenset(answered))
                outages_stale = False
            outcome = _suppressed_outcome(message, message_gateway)
        else:
            try:
                outcome = _send(message, message_gateway, sender_id=route.sender_id)
            except GatewayError as error:
                outcome = error
            _note_gateway_answer(message_gateway, outcome)
            outages_stale = True
            if isinstance(outcome, str) or outcome.retryable:  # what tells its state
                answered.add(message_gateway.name)
        recorded = _record(message, claim=claim, gateway=message_gateway, outcome=outcome,
                           sender_id=route.sender_id)
        if (
            recorded and message.purpose == SmsPurpose.INVITATION
            and isinstance(outcome, GatewayError) and not outcome.retryable
        ):
            failed_invitations.append(message.id)
    if failed_invitations:
        # A granted request's requester and granter learn of it (a worker that dies
        # first leaves it to the sweep).
        settle_undelivered_invitations(sms_ids=failed_invitations)
    return len(batch)


def run_delivery_worker(stop: threading.Event) -> None:
    """Deliver until ``stop`` is set, sleeping while the queue is empty; sweep old rows
    once every SWEEP_INTERVAL."""
    logger.info("SMS delivery worker started (gateway: %s)", settings.SMS_GATEWAY)
    next_sweep = clock.now()
    while not stop.is_set():
        if clock.now() >= next_sweep:
            # A sweep that fails is tried again at the next interval; it never holds up
            # delivery.
            next_sweep = clock.now() + settings.SWEEP_INTERVAL
            try:
                call_command("sweep", verbosity=0)
            except Exception:
                logger.exception("Sweep failed; trying again in %s", settings.SWEEP_INTERVAL)
            finally:
                close_old_connections()
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
