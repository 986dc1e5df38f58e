"""SMPP 3.4 straight to a provider's SMSC (smpplib): one transceiver bind per worker
process, submits and delivery receipts on the same connection.

A text in the GSM 03.38 alphabet goes as GSM-7 (data_coding 0), anything else as UCS-2
(data_coding 8); a text longer than one segment is split into parts carrying a
concatenation header (UDHI), each part a ``submit_sm``. Numbers travel international
(TON 1, NPI 1, no "+"); a name as sender is alphanumeric (TON 5), a number
international. ``registered_delivery`` asks for a receipt for each part, which
arrives as a ``deliver_sm``; a message is delivered once every part's receipt says so,
and failed as soon as any part's says it failed (its text cannot be whole on the
phone). A receipt is matched to our message by the id the SMSC answered the part's
``submit_sm`` with, kept in the database (``SmsPart``) before the next PDU is read: an
SMSC hands receipts to whichever bind of ours it likes, and keeps those for a bind
that went away for the next one, so a worker that restarted, or another worker,
records them all the same. The gateway keeps nothing per message in memory.

A reader thread owns the socket's incoming side: it matches each ``submit_sm_resp`` to
the waiting ``send`` by sequence number and records receipts. A broken connection is
dropped and the next ``send`` binds again.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
from django.conf import settings
from django.db import close_old_connections, connections

from inviteonly.lib.sms_text import SmsEncoding, gsm7_septets, segment_texts
from inviteonly.sms.delivery_reports import ReportOutcome, keep_part, record_part_report
from inviteonly.sms.gateways import GatewayError, SmsReceipt

logger = logging.getLogger(__name__)

# submit_sm_resp statuses that trying again cannot fix: the number or the sender is
# wrong, the text is too long. Everything else (throttled, queue full, system error)
# is retried.
PERMANENT_STATUSES = {
    smpplib.consts.SMPP_ESME_RINVMSGLEN,
    smpplib.consts.SMPP_ESME_RINVSRCADR,
    smpplib.consts.SMPP_ESME_RINVDSTADR,
    smpplib.consts.SMPP_ESME_RINVDSTTON,
    smpplib.consts.SMPP_ESME_RINVDSTNPI,
}
TON_INTERNATIONAL, TON_ALPHANUMERIC = 1, 5
NPI_ISDN, NPI_UNKNOWN = 1, 0
RECEIPT_ESM_CLASS = 0x04
_RECEIPT_FIELDS = re.compile(r"\b(id|stat|err):(\S*)")
RECEIPT_OUTCOMES = {
    "DELIVRD": ReportOutcome.DELIVERED,
    "UNDELIV": ReportOutcome.FAILED,
    "REJECTD": ReportOutcome.FAILED,
    "EXPIRED": ReportOutcome.FAILED,
    "DELETED": ReportOutcome.FAILED,
}


@dataclass
class _PendingSubmit:
    reference: int  # our message's id, which its receipts are recorded for
    number: int  # which part, of how many
    count: int
    done: threading.Event = field(default_factory=threading.Event)
    status: int = -1
    message_id: str = ""


def submit_parts(text: str) -> tuple[list[bytes], int, int]:
    """The short messages of ``text``, its data_coding and its esm_class: the segments
    ``sms_text`` counted (never splitting a character), encoded by its GSM-7 table,
    each behind a concatenation header when there are several."""
    encoding, texts = segment_texts(text)
    if encoding == SmsEncoding.GSM7:
        data_coding, parts = smpplib.consts.SMPP_ENCODING_DEFAULT, list(map(gsm7_septets, texts))
    else:
        data_coding = smpplib.consts.SMPP_ENCODING_ISO10646
        parts = [part.encode("utf-16-be") for part in texts]
    if len(parts) == 1:
        return parts, data_coding, smpplib.consts.SMPP_MSGTYPE_DEFAULT
    if len(parts) > 255:
        raise GatewayError("smpp: the text is too long for one message", retryable=False)
    # The header's length (5), then IEI 00 (an 8-bit reference) of length 3: the
    # reference, the number of parts, this part's number.
    reference = secrets.randbelow(256)
    return (
        [bytes((5, 0, 3, reference, len(parts), number)) + part
         for number, part in enumerate(parts, start=1)],
        data_coding,
        smpplib.consts.SMPP_GSMFEAT_UDHI,
    )


def sender_address(sender_id: str) -> tuple[str, int, int]:
    """(source_addr, TON, NPI) of a sender id: a number or an alphanumeric name."""
    digits = sender_id.removeprefix("+")
    if digits.isdigit():
        return digits, TON_INTERNATIONAL, NPI_ISDN
    return sender_id, TON_ALPHANUMERIC, NPI_UNKNOWN


class SmppGateway:
    name = "smpp"

    def __init__(self) -> None:
        host, _, port = settings.SMPP_ADDRESS.rpartition(":")
        self._host, self._port = host, int(port)
        self._lock = threading.Lock()
        self._client: smpplib.client.Client | None = None
        # Per connection (sequence numbers start again with each), the submits waiting
        # for their answers: a connection dropped wakes only its own.
        self._pending: dict[smpplib.client.Client, dict[int, _PendingSubmit]] = {}

    # The connection -------------------------------------------------------------------

    def _connected(self) -> smpplib.client.Client:
        if self._client is not None:
            return self._client
        client = smpplib.client.Client(
            self._host, self._port, timeout=settings.SMS_GATEWAY_TIMEOUT,
            allow_unknown_opt_params=True,
        )
        client.set_message_sent_handler(functools.partial(self._submit_answered, client))
        client.set_message_received_handler(self._receipt_received)
        client.set_error_pdu_handler(lambda pdu: None)  # answered in _submit_answered
        client.connect()
        try:
            client.bind_transceiver(
                system_id=settings.SMPP_SYSTEM_ID, password=settings.SMPP_PASSWORD
            )
        except smpplib.exceptions.PDUError as error:
            client.disconnect()
            raise GatewayError(f"smpp bind refused: {error.args[0]}", retryable=True) from error
        self._client = client
        self._pending[client] = {}
        threading.Thread(
            target=self._read, args=(client,), name="smpp-reader", daemon=True
        ).start()
        return client

    def _read(self, client: smpplib.client.Client) -> None:
        try:
            while self._client is client:
                client.read_once()
        except Exception as error:  # the connection broke: the next send binds again
            logger.warning("SMPP connection lost: %s", type(error).__name__)
        finally:
            self._drop(client)
            # This thread's own database connection (receipts) ends with it.
            connections.close_all()

    def _drop(self, client: smpplib.client.Client) -> None:
        with self._lock:
            if self._client is client:
                self._client = None
            for pending in self._pending.pop(client, {}).values():
                pending.done.set()
        with contextlib.suppress(Exception):  # already broken
            client.disconnect()

    def close(self) -> None:
        client = self._client
        if client is not None:
            self._client = None
            with contextlib.suppress(Exception):  # closing anyway
                client.unbind()
            self._drop(client)

    # Sending ----------------------------------------------------------------------------

    def send(self, *, to: str, text: str, reference: str, sender_id: str = "") -> SmsReceipt:
        parts, data_coding, esm_class = submit_parts(text)
        source, source_ton, source_npi = sender_address(sender_id or settings.SITE_NAME[:11])
        # What every part's submit_sm says besides the part itself.
        fields = {
            "source_addr_ton": source_ton,
            "source_addr_npi": source_npi,
            "source_addr": source,
            "dest_addr_ton": TON_INTERNATIONAL,
            "dest_addr_npi": NPI_ISDN,
            "destination_addr": to.removeprefix("+"),
            "data_coding": data_coding,
            "esm_class": esm_class,
            "registered_delivery": 1,
        }
        message_ids: list[str] = []
        for number, part in enumerate(parts, start=1):
            pending = _PendingSubmit(reference=int(reference), number=number, count=len(parts))
            try:
                message_ids.append(self._submit(part, pending=pending, fields=fields))
            except GatewayError as error:
                if not message_ids:
                    raise
                # An earlier part was taken: sent again whole, the message would arrive
                # partly twice (and be paid for twice). It fails instead.
                raise GatewayError(
                    f"smpp: part {number} of {len(parts)}: {error}"[:200], retryable=False
                ) from error
        return SmsReceipt(gateway_message_id=message_ids[0])

    def _submit(self, part: bytes, *, pending: _PendingSubmit, fields: dict[str, Any]) -> str:
        """One submit_sm, answered; returns the SMSC's message id."""
        try:
            with self._lock:
                client = self._connected()
                pdu = client.send_message(short_message=part, **fields)
                self._pending[client][pdu.sequence] = pending
        except (OSError, smpplib.exceptions.ConnectionError) as error:
            self._client = None
            raise GatewayError(f"smpp unreachable: {type(error).__name__}",
                               retryable=True) from error
        if not pending.done.wait(settings.SMS_GATEWAY_TIMEOUT) and pending.status >= 0:
            # Answered: the reader is keeping the part's id, in a slow database. Taken
            # by the SMSC, the part must not look unanswered (and be sent again).
            pending.done.wait()
        if pending.status < 0:
            # A session that stopped answering (or a half-open connection) would fail
            # every later send too: the next one binds again.
            self._drop(client)
            raise GatewayError("smpp: no answer to submit_sm", retryable=True)
        if pending.status != smpplib.consts.SMPP_ESME_ROK:
            description = smpplib.consts.DESCRIPTIONS.get(pending.status, "unknown")
            raise GatewayError(
                f"smpp refused ({pending.status:#x}): {description}"[:200],
                retryable=pending.status not in PERMANENT_STATUSES,
            )
        return pending.message_id

    def _submit_answered(self, client: smpplib.client.Client, pdu: Any, **kwargs: Any) -> None:
        message_id = getattr(pdu, "message_id", b"") or b""
        message_id = (
            message_id.decode("ascii", "replace") if isinstance(message_id, bytes)
            else str(message_id)
        )
        with self._lock:
            pending = self._pending.get(client, {}).pop(pdu.sequence, None)
        if pending is None:
            return
        pending.status = int(pdu.status)
        pending.message_id = message_id
        try:
            if pdu.status == smpplib.consts.SMPP_ESME_ROK:
                # Kept before the sender goes on (a message recorded as sent has every
                # part kept) and before the next PDU is read (this thread reads them in
                # order): a receipt may follow the answer at once, on any bind.
                close_old_connections()
                keep_part(message_id=pending.reference, number=pending.number,
                          count=pending.count, gateway_message_id=message_id)
        except Exception:
            # The SMSC has the part all the same: its receipt will find no match.
            logger.exception("SMPP part %s of SMS %s could not be kept",
                             pending.number, pending.reference)
        finally:
            pending.done.set()

    # Receipts ---------------------------------------------------------------------------

    def _receipt_received(self, pdu: Any, **kwargs: Any) -> int | None:
        if not getattr(pdu, "esm_class", 0) & RECEIPT_ESM_CLASS:
            return None  # a message to us (MO): not handled
        raw = pdu.short_message or b""
        fields = dict(_RECEIPT_FIELDS.findall(raw.decode("ascii", "replace")))
        receipted = getattr(pdu, "receipted_message_id", None) or fields.get("id", "")
        gateway_message_id = (
            receipted.decode("ascii", "replace") if isinstance(receipted, bytes) else receipted
        )
        outcome = RECEIPT_OUTCOMES.get(fields.get("stat", ""))
        if outcome is None or not gateway_message_id:
            return None
        try:
            # This thread lives as long as the bind: its kept database connection is
            # checked as a request's is (a restart or idle_session_timeout ends it).
            close_old_connections()
            record_part_report(
                outcome=outcome,
                gateway=self.name,
                gateway_message_id=gateway_message_id,
                detail=f"smpp receipt {fields.get('stat')} (error {fields.get('err', '?')})",
            )
        except Exception:
            logger.exception("SMPP receipt could not be recorded")
            # Not acknowledged as taken: the SMSC delivers it again later.
            return int(smpplib.consts.SMPP_ESME_RX_T_APPN)
        return None
