"""The smpp gateway against an SMPP server on loopback (the npm package `smpp` in server
mode, tests/smpp_sim/sim.js): bind, submit_sm with international numbers, GSM-7 and
UCS-2, a two-part concatenated message, receipts, refusals and throttling."""

from __future__ import annotations

import json
import logging
import queue
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
import smpplib.consts
from django.db import OperationalError, connection, connections

from inviteonly.lib.phone_numbers import normalize_phone_number
from inviteonly.lib.sms_text import gsm7_septets, shape_of
from inviteonly.sms.delivery import deliver_due_messages
from inviteonly.sms.gateways import GatewayError
from inviteonly.sms.gateways import smpp as smpp_gateway
from inviteonly.sms.gateways.smpp import SmppGateway, submit_parts
from inviteonly.sms.models import OutboundSms, SmsPurpose, SmsStatus
from inviteonly.sms.outbox import queue_sms
from tests.conftest import FrozenClock, skip_or_fail

# Receipts are recorded by the gateway's reader thread: data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

SIMULATOR = Path(__file__).parent / "smpp_sim"
MISSING = (
    "The SMPP simulator needs Node.js and its npm package: apt-get install nodejs npm; "
    "cd tests/smpp_sim && npm ci"
)
SYSTEM_ID, PASSWORD = "inviteonly", "smpp-pw8"  # SMPP passwords: 8 characters at most
REFUSED, THROTTLED, SILENT = "1201555", "1202555", "1203555"
LATER_PARTS_THROTTLED = "1204555"
NO_RECEIPTS = "1205555"
HELD_RECEIPTS = "1206555"


class Simulator:
    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None or not (SIMULATOR / "node_modules" / "smpp").exists():
            skip_or_fail(MISSING)
        assert node is not None
        self.process = subprocess.Popen(
            [node, str(SIMULATOR / "sim.js"), SYSTEM_ID, PASSWORD, REFUSED, THROTTLED,
             SILENT, LATER_PARTS_THROTTLED, NO_RECEIPTS, HELD_RECEIPTS],
            stdout=subprocess.PIPE, text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        listening = self.events.get(timeout=20)
        assert listening["event"] == "listening"
        self.port = int(listening["port"])

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def submitted(self, count: int) -> list[dict[str, Any]]:
        return [self.events.get(timeout=10) for _ in range(count)]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    running = Simulator()
    yield running
    running.stop()


@pytest.fixture
def gateway(simulator: Simulator, settings: Any) -> Iterator[SmppGateway]:
    settings.SMPP_ADDRESS = f"127.0.0.1:{simulator.port}"
    settings.SMPP_SYSTEM_ID = SYSTEM_ID
    settings.SMPP_PASSWORD = PASSWORD
    connected = SmppGateway()
    yield connected
    connected.close()


def queued(number: str, text: str) -> OutboundSms:
    return queue_sms(
        phone=normalize_phone_number(number), text=text, purpose=SmsPurpose.INVITATION
    )


def wait_for_status(message: OutboundSms, status: SmsStatus) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        message.refresh_from_db()
        if message.status == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"SMS {message.id} is {message.status}, not {status}")


def test_gsm7_message_goes_international_and_its_receipt_marks_it_delivered(
    simulator: Simulator, gateway: SmppGateway
) -> None:
    text = "Anna invites you to inviteonly: https://example.org/j/AbC_12-xyz"
    message = queued("+447911123456", text)
    assert deliver_due_messages(gateway=gateway) == 1
    [submitted] = simulator.submitted(1)
    assert submitted["destination_addr"] == "447911123456"
    assert (submitted["dest_addr_ton"], submitted["dest_addr_npi"]) == (1, 1)
    assert (submitted["data_coding"], submitted["udh"]) == (0, [])
    assert submitted["message"] == text
    assert (submitted["source_addr"], submitted["source_addr_ton"]) == ("inviteonly", 5)
    assert submitted["registered_delivery"] == 1
    wait_for_status(message, SmsStatus.DELIVERED)
    assert message.gateway_message_id == submitted["message_id"]
    assert message.gateway == "smpp" and message.text_ciphertext is None


def test_a_site_logging_at_debug_writes_no_pdu(
    simulator: Simulator, gateway: SmppGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """smpplib logs every PDU in hex at DEBUG: the bind's password, the number, the text
    (a code, a join link). Its loggers stay at INFO (settings.LOGGING)."""
    caplog.set_level(logging.DEBUG)  # INVITEONLY_LOG_LEVEL=DEBUG
    queued("+447911123456", "Your inviteonly code: 482913")
    assert deliver_due_messages(gateway=gateway) == 1
    simulator.submitted(1)
    logged = caplog.text
    for secret in (PASSWORD, "447911123456", "482913"):
        assert secret not in logged
        assert secret.encode().hex() not in logged, secret


def test_long_russian_text_goes_as_two_ucs2_parts_that_join_up(
    simulator: Simulator, gateway: SmppGateway, settings: Any
) -> None:
    text = (
        "Анна приглашает вас в inviteonly — сообщество по приглашениям. "
        "Ссылка: https://example.org/j/AbC_12-xyz"
    )
    assert shape_of(text).segments == 2
    settings.SMS_SENDER_ID = "+14155550100"
    message = queued("+79161234567", text)
    deliver_due_messages(gateway=gateway)
    parts = simulator.submitted(2)
    assert [part["data_coding"] for part in parts] == [8, 8]
    assert all(part["esm_class"] & 0x40 for part in parts)  # UDHI: a header in the text
    # Concatenation headers: IEI 00, length 03, one reference, 2 parts, numbers 1 and 2.
    headers = [bytes.fromhex(part["udh"][0]) for part in parts]
    assert [header[:2] for header in headers] == [b"\x00\x03"] * 2
    assert headers[0][2] == headers[1][2]
    assert [(header[3], header[4]) for header in headers] == [(2, 1), (2, 2)]
    assert "".join(part["message"] for part in parts) == text
    assert {part["destination_addr"] for part in parts} == {"79161234567"}
    assert (parts[0]["source_addr"], parts[0]["source_addr_ton"]) == ("14155550100", 1)
    wait_for_status(message, SmsStatus.DELIVERED)


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "gsm7", 1),
        ("a" * 159 + "€", "gsm7", 2),  # 161 septets: "€" is the escape and its code
        ("a" * 152 + "€" + "a" * 152, "gsm7", 3),  # "€" does not fit the first 153
        ("Ж" * 70, "ucs2", 1),
        ("Ж" * 66 + "😀" + "Ж" * 66, "ucs2", 3),  # nor the emoji's two units the first 67
        ("§ " + "a" * 140, "gsm7", 1),  # "§" is GSM-7 (0x5F)
    ],
    ids=["gsm7-160", "gsm7-161", "gsm7-escape-on-the-edge", "ucs2-70", "ucs2-emoji-on-the-edge",
         "gsm7-section-sign"],
)
def test_the_segments_counted_are_the_parts_sent_and_no_character_is_split(
    text: str, encoding: str, segments: int
) -> None:
    shape = shape_of(text)
    parts, data_coding, esm_class = submit_parts(text)
    assert (shape.encoding, shape.segments, len(parts)) == (encoding, segments, segments)
    assert data_coding == (0 if encoding == "gsm7" else 8)
    if segments == 1:
        assert esm_class == 0
        bodies = parts
    else:
        assert esm_class & 0x40
        headers = [part[:6] for part in parts]
        assert {header[:3] for header in headers} == {b"\x05\x00\x03"}
        assert len({header[3] for header in headers}) == 1
        assert [(header[4], header[5]) for header in headers] == [
            (segments, number) for number in range(1, segments + 1)
        ]
        bodies = [part[6:] for part in parts]
    if encoding == "ucs2":
        assert "".join(body.decode("utf-16-be") for body in bodies) == text  # strict
        assert all(len(body) <= (140 if segments == 1 else 134) for body in bodies)
    else:
        assert all(not body.endswith(b"\x1b") for body in bodies)
        assert all(len(body) <= (160 if segments == 1 else 153) for body in bodies)
        assert b"".join(bodies) == gsm7_septets(text)
    assert gsm7_septets("@§€{") == b"\x00\x5f\x1b\x65\x1b\x28"


def test_a_refused_number_fails_for_good_and_throttling_means_retry(
    simulator: Simulator, gateway: SmppGateway
) -> None:
    refused = queued(f"+{REFUSED}0123", "hello")
    throttled = queued(f"+{THROTTLED}0123", "hello")
    deliver_due_messages(gateway=gateway)
    refused.refresh_from_db()
    throttled.refresh_from_db()
    assert refused.status == SmsStatus.FAILED and "0xb" in refused.last_error
    assert throttled.status == SmsStatus.QUEUED and "0x58" in throttled.last_error
    assert throttled.text_ciphertext is not None


def test_no_receipt_is_lost_however_soon_it_follows_the_answer(
    simulator: Simulator, gateway: SmppGateway
) -> None:
    """The simulator sends each receipt right behind its submit_sm_resp: the reader
    thread reads it before the sending thread has woken up (6 of 20 were lost)."""
    messages = [queued(f"+4479111{index:05d}", "hello") for index in range(20)]
    assert deliver_due_messages(gateway=gateway) == 20
    simulator.submitted(20)
    for message in messages:
        wait_for_status(message, SmsStatus.DELIVERED)


def test_a_receipt_that_comes_after_a_restart_is_recorded_by_the_new_bind(
    simulator: Simulator, gateway: SmppGateway
) -> None:
    """The SMSC keeps a receipt for a client that went away and hands it to the next
    bind (here, of each message its last part's): the worker that sent the message
    restarted, or another worker's bind got it. It is matched by the SMSC's id of the
    part, kept with the message, and the parts' receipts that came before still count."""
    single = queued(f"+1{HELD_RECEIPTS}0001", "hello")
    long = queued(f"+1{HELD_RECEIPTS}0002", "Ж" * 100)  # two UCS-2 parts
    assert deliver_due_messages(gateway=gateway) == 2
    simulator.submitted(3)
    for message in (single, long):
        message.refresh_from_db()
        assert message.status == SmsStatus.SENT  # part 1's receipt alone is not all
    gateway.close()  # the worker stops
    restarted = SmppGateway()
    try:
        # Its first message binds: the receipts held come on that bind.
        first_after = queued("+447911123464", "hello")
        assert deliver_due_messages(gateway=restarted) == 1
        simulator.submitted(1)
        for message in (single, long, first_after):
            wait_for_status(message, SmsStatus.DELIVERED)
    finally:
        restarted.close()


def test_a_part_taken_while_the_database_is_slow_is_not_sent_again(
    simulator: Simulator, gateway: SmppGateway, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader keeps each part's id before the sender goes on; keeping it may outlast
    the gateway timeout, and the part, taken, must not look unanswered."""
    settings.SMS_GATEWAY_TIMEOUT = 0.3
    kept = smpp_gateway.keep_part

    def slowly(**kwargs: Any) -> None:
        time.sleep(0.6)
        kept(**kwargs)

    monkeypatch.setattr(smpp_gateway, "keep_part", slowly)
    message = queued("+447911123465", "hello")
    assert deliver_due_messages(gateway=gateway) == 1
    simulator.submitted(1)
    wait_for_status(message, SmsStatus.DELIVERED)
    assert message.attempts == 1 and message.last_error == ""


def test_a_receipt_for_a_message_sent_before_its_parts_were_kept_is_matched_by_its_id(
    gateway: SmppGateway,
) -> None:
    """A message sent before each part's id was kept has its first part's id only (with
    the message): its receipt is matched by that, and decides alone."""
    message = queued("+447911123463", "hello")
    OutboundSms.objects.filter(id=message.id).update(
        status=SmsStatus.SENT, gateway="smpp", gateway_message_id="smsc-old"
    )
    assert gateway._receipt_received(receipt_for("smsc-old", "DELIVRD")) is None
    message.refresh_from_db()
    assert message.status == SmsStatus.DELIVERED


def test_a_receipt_that_could_not_be_recorded_is_not_acknowledged(
    gateway: SmppGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deliver_sm_resp with ESME_ROK would make the SMSC forget the receipt."""
    def database_down(**kwargs: Any) -> bool:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(smpp_gateway, "record_part_report", database_down)
    receipt = SimpleNamespace(
        esm_class=0x04, receipted_message_id=b"sim1",
        short_message=b"id:sim1 sub:001 dlvrd:001 stat:DELIVRD err:000 text:",
    )
    assert gateway._receipt_received(receipt) == smpplib.consts.SMPP_ESME_RX_T_APPN


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has no server to end a connection"
)
def test_receipts_are_recorded_after_the_server_ended_the_readers_connection(
    settings: Any,
) -> None:
    """The reader thread lives as long as the bind, far longer than a request: a
    database restart or idle_session_timeout ends its kept connection, and receipts
    must still be recorded (unrecorded, the SMSC gets them back unacknowledged, again
    and again)."""
    settings.SMPP_ADDRESS = "127.0.0.1:9"  # receipts only: no bind
    gateway = SmppGateway()
    earlier, later = queued("+447911123461", "hello"), queued("+447911123462", "hello")
    for message, smsc_id in ((earlier, "smsc-a"), (later, "smsc-b")):
        OutboundSms.objects.filter(id=message.id).update(
            status=SmsStatus.SENT, gateway="smpp", gateway_message_id=smsc_id
        )

    def receipt(smsc_id: str) -> SimpleNamespace:
        return SimpleNamespace(
            esm_class=0x04, receipted_message_id=smsc_id.encode(),
            short_message=f"id:{smsc_id} sub:001 dlvrd:001 stat:DELIVRD err:000 text:".encode(),
        )

    def end_this_threads_connection() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            [pid] = cursor.fetchone() or [None]
        assert connection.connection is not None
        with psycopg.connect(connection.connection.info.dsn, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
        poll = select.poll()
        poll.register(connection.connection.fileno(), select.POLLIN)
        assert poll.poll(5000), "the server did not end the connection"

    # One thread throughout, as the reader is: its own kept database connection.
    with ThreadPoolExecutor(max_workers=1) as reader:
        assert reader.submit(gateway._receipt_received, receipt("smsc-a")).result() is None
        reader.submit(end_this_threads_connection).result()
        answers = [reader.submit(gateway._receipt_received, receipt("smsc-b")).result()
                   for _ in range(2)]
        reader.submit(connections.close_all).result()
    assert answers == [None, None]  # recorded and acknowledged at the first delivery
    for message in (earlier, later):
        message.refresh_from_db()
        assert message.status == SmsStatus.DELIVERED


def test_a_session_that_stops_answering_is_dropped_and_the_next_send_binds_again(
    simulator: Simulator, gateway: SmppGateway, settings: Any
) -> None:
    settings.SMS_GATEWAY_TIMEOUT = 0.5
    silent = queued(f"+{SILENT}0123", "hello")
    deliver_due_messages(gateway=gateway)
    silent.refresh_from_db()
    assert silent.status == SmsStatus.QUEUED and "no answer" in silent.last_error
    assert gateway._client is None  # not kept to fail every later send
    message = queued("+447911123459", "hello")
    assert deliver_due_messages(gateway=gateway) == 1
    simulator.submitted(1)
    wait_for_status(message, SmsStatus.DELIVERED)


def test_a_dropped_sessions_reader_ending_fails_no_submit_of_the_next_session(
    simulator: Simulator, gateway: SmppGateway, settings: Any
) -> None:
    """The silent session's reader thread ends when its read times out, a moment after
    the session was dropped: it must wake only that session's submits, not one waiting
    on the next session (which the SMSC takes: failed, it would be sent twice)."""
    settings.SMS_GATEWAY_TIMEOUT = 1.0
    with pytest.raises(GatewayError, match="no answer"):
        gateway.send(to=f"+{SILENT}0123", text="hello", reference="1")
    answered = gateway._submit_answered

    def slow_answer(client: Any, pdu: Any, **kwargs: Any) -> None:
        time.sleep(0.6)  # an SMSC that takes a moment: the old reader ends meanwhile
        answered(client, pdu, **kwargs)

    gateway._submit_answered = slow_answer  # type: ignore[method-assign]
    receipt = gateway.send(to="+447911123460", text="hello", reference="2")
    [taken] = simulator.submitted(1)
    assert receipt.gateway_message_id == taken["message_id"]


def test_a_message_whose_later_part_fails_is_not_sent_again_whole(
    simulator: Simulator, gateway: SmppGateway, clock: FrozenClock
) -> None:
    """Part 1 was taken: sending the whole message again would deliver part 1 twice
    (and pay for it twice). The message fails instead, and the inviter sees it."""
    message = queued(f"+{LATER_PARTS_THROTTLED}0123", "Ж" * 100)  # two UCS-2 parts
    deliver_due_messages(gateway=gateway)
    simulator.submitted(1)  # part 1 only
    message.refresh_from_db()
    assert message.status == SmsStatus.FAILED
    assert "part 2 of 2" in message.last_error and "0x58" in message.last_error
    clock.advance(hours=1)  # past any backoff
    assert deliver_due_messages(gateway=gateway) == 0
    assert simulator.events.empty()


def test_a_wrong_password_is_a_retryable_bind_failure(
    simulator: Simulator, settings: Any
) -> None:
    settings.SMPP_ADDRESS = f"127.0.0.1:{simulator.port}"
    settings.SMPP_SYSTEM_ID = SYSTEM_ID
    settings.SMPP_PASSWORD = "wrong"
    message = queued("+447911123457", "hello")
    deliver_due_messages(gateway=SmppGateway())
    message.refresh_from_db()
    assert message.status == SmsStatus.QUEUED and "bind" in message.last_error


def test_an_unreachable_smsc_means_retry(settings: Any) -> None:
    settings.SMPP_ADDRESS = "127.0.0.1:9"  # nothing listens there
    settings.SMPP_SYSTEM_ID = SYSTEM_ID
    settings.SMPP_PASSWORD = PASSWORD
    message = queued("+447911123458", "hello")
    deliver_due_messages(gateway=SmppGateway())
    message.refresh_from_db()
    assert message.status == SmsStatus.QUEUED and "unreachable" in message.last_error
    assert message.text_ciphertext is not None


def receipt_for(smsc_id: str, stat: str) -> SimpleNamespace:
    return SimpleNamespace(
        esm_class=smpp_gateway.RECEIPT_ESM_CLASS, receipted_message_id=smsc_id.encode(),
        short_message=f"id:{smsc_id} sub:001 dlvrd:001 stat:{stat} err:000 text:".encode(),
    )


@pytest.mark.parametrize(
    ("receipts", "status"),
    [
        # Delivered only once every part is: the first part's receipt alone, or the
        # last part's arriving first, is not the whole text on the phone.
        ([(1, "DELIVRD"), (2, "DELIVRD"), (3, "DELIVRD")], SmsStatus.DELIVERED),
        ([(3, "DELIVRD"), (1, "DELIVRD"), (2, "DELIVRD")], SmsStatus.DELIVERED),
        ([(1, "DELIVRD"), (2, "DELIVRD")], SmsStatus.SENT),
        ([(3, "DELIVRD")], SmsStatus.SENT),
        # Failed as soon as any part fails, whichever it is and whenever it comes.
        ([(2, "UNDELIV")], SmsStatus.FAILED),
        ([(1, "DELIVRD"), (3, "EXPIRED"), (2, "DELIVRD")], SmsStatus.FAILED),
        ([(3, "DELIVRD"), (2, "DELIVRD"), (1, "REJECTD")], SmsStatus.FAILED),
        # A part's receipt sent twice counts once.
        ([(1, "DELIVRD"), (1, "DELIVRD"), (2, "DELIVRD")], SmsStatus.SENT),
    ],
)
@pytest.mark.parametrize("restart_after", [None, 0, 1, 2], ids=[
    "one-bind", "all-after-a-restart", "restart-after-one", "restart-after-two",
])
def test_a_multipart_message_is_delivered_when_every_part_is_and_failed_if_any_fails(
    simulator: Simulator, gateway: SmppGateway,
    receipts: list[tuple[int, str]], status: SmsStatus, restart_after: int | None,
) -> None:
    """Whichever bind each receipt comes on: the sending worker's, or the one it made
    after restarting after the first ``restart_after`` receipts."""
    message = queued(f"+1{NO_RECEIPTS}0001", "Ж" * 150)  # three UCS-2 parts
    assert deliver_due_messages(gateway=gateway) == 1
    part_ids = [part["message_id"] for part in simulator.submitted(3)]
    message.refresh_from_db()
    assert message.status == SmsStatus.SENT
    receiver = gateway
    for index, (number, stat) in enumerate(receipts):
        if index == restart_after:
            receiver = SmppGateway()  # a new process knows nothing of the last one's
        assert receiver._receipt_received(receipt_for(part_ids[number - 1], stat)) is None
    message.refresh_from_db()
    assert message.status == status
    if status == SmsStatus.FAILED:
        assert "smpp receipt" in message.last_error
        # Nothing later makes it delivered.
        for part_id in part_ids:
            receiver._receipt_received(receipt_for(part_id, "DELIVRD"))
        message.refresh_from_db()
        assert message.status == SmsStatus.FAILED


def test_a_multipart_receipt_that_could_not_be_recorded_decides_when_sent_again(
    simulator: Simulator, gateway: SmppGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = queued(f"+1{NO_RECEIPTS}0002", "Ж" * 100)  # two UCS-2 parts
    assert deliver_due_messages(gateway=gateway) == 1
    first, last = (part["message_id"] for part in simulator.submitted(2))
    assert gateway._receipt_received(receipt_for(first, "DELIVRD")) is None

    def database_down(**kwargs: Any) -> bool:
        raise OperationalError("server closed the connection unexpectedly")

    with monkeypatch.context() as patched:
        patched.setattr(smpp_gateway, "record_part_report", database_down)
        assert gateway._receipt_received(receipt_for(last, "DELIVRD")) == (
            smpplib.consts.SMPP_ESME_RX_T_APPN
        )
    assert gateway._receipt_received(receipt_for(last, "DELIVRD")) is None
    message.refresh_from_db()
    assert message.status == SmsStatus.DELIVERED
