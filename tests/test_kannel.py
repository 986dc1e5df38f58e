"""The kannel gateway against a real Kannel (bearerbox, smsbox, fake SMSC on loopback):
texts arrive once and intact, delivery reports come back to our endpoint, refused
numbers fail for good and show so to the inviter, a stopped Kannel only delays."""

from __future__ import annotations

import logging
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from inviteonly.accounts.models import Member
from inviteonly.invitations.actions import do_invite_by_phone
from inviteonly.lib import crypto
from inviteonly.sms.delivery import deliver_due_messages
from inviteonly.sms.gateways import reset_gateways
from inviteonly.sms.models import OutboundSms, SmsStatus
from tests.conftest import PASSWORD, FrozenClock, skip_or_fail
from tests.kannel_fixture import (
    BEARERBOX,
    MISSING,
    REFUSED_PREFIX,
    REPO_ROOT,
    SMSBOX,
    USERNAME,
    Kannel,
    SiteInThread,
    free_port,
    kannel_available,
)
from tests.kannel_fixture import (
    PASSWORD as KANNEL_PASSWORD,
)

# The delivery reports are written by the site's threads: data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

RUSSIAN_NUMBER = "+79161112233"
ENGLISH_NUMBER = "+447911123456"
REFUSED_NUMBER = REFUSED_PREFIX + "0123"


@pytest.fixture(scope="module")
def kannel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kannel]:
    if not kannel_available():
        skip_or_fail(MISSING)
    running = Kannel(Path(tmp_path_factory.mktemp("kannel")))
    running.start()
    yield running
    running.remove()


@pytest.fixture
def site(kannel: Kannel, settings: Any) -> Iterator[SiteInThread]:
    """Kannel as the gateway, our site listening for its delivery reports."""
    server = SiteInThread()
    settings.SMS_GATEWAY = "kannel"
    settings.KANNEL_SENDSMS_URL = kannel.sendsms_url
    settings.KANNEL_USERNAME = USERNAME
    settings.KANNEL_PASSWORD = KANNEL_PASSWORD
    settings.SMS_DELIVERY_REPORT_BASE_URL = server.url
    reset_gateways()
    yield server
    server.close()
    reset_gateways()


def queued_text(message: OutboundSms) -> str:
    assert message.text_ciphertext is not None
    return crypto.decrypt(bytes(message.text_ciphertext), purpose=crypto.Purpose.SMS_TEXT)


def invite(founder: Member, number: str) -> tuple[OutboundSms, str]:
    invitation = do_invite_by_phone(inviter=founder, phone=number)
    assert invitation.sms is not None
    return invitation.sms, queued_text(invitation.sms)


def deliver_all() -> None:
    while deliver_due_messages():
        pass


def wait_for_status(message: OutboundSms, status: SmsStatus, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message.refresh_from_db()
        if message.status == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"SMS {message.id} is {message.status}, not {status}")


def test_russian_and_english_invitations_arrive_once_intact_and_are_reported_delivered(
    kannel: Kannel, site: SiteInThread, founder: Member
) -> None:
    russian, russian_text = invite(founder, RUSSIAN_NUMBER)
    english, english_text = invite(founder, ENGLISH_NUMBER)
    assert "приглашает" in russian_text or "Вас пригласили" in russian_text
    assert "invites you" in english_text or "You are invited" in english_text
    deliver_all()
    for message in (russian, english):
        wait_for_status(message, SmsStatus.DELIVERED)
        assert message.gateway == "kannel" and message.delivered_at is not None
        assert message.text_ciphertext is None
    kannel.wait_for_received(1, to=RUSSIAN_NUMBER)
    kannel.wait_for_received(1, to=ENGLISH_NUMBER)
    time.sleep(1)  # anything sent twice would have arrived by now
    [to_russian] = kannel.wait_for_received(1, to=RUSSIAN_NUMBER)
    [to_english] = kannel.wait_for_received(1, to=ENGLISH_NUMBER)
    assert (to_russian.coding, to_russian.text) == ("ucs-2", russian_text)
    assert (to_english.coding, to_english.text) == ("text", english_text)
    # Kannel's logs (access-log-format of docs/operations.md) keep neither text nor number.
    logs = kannel.logs()
    for secret in (russian_text, english_text, RUSSIAN_NUMBER[1:], ENGLISH_NUMBER[1:]):
        assert secret not in logs


def test_a_number_kannel_refuses_fails_for_good_and_the_inviter_sees_it(
    kannel: Kannel, site: SiteInThread, founder: Member, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    message, text = invite(founder, REFUSED_NUMBER)
    deliver_all()
    message.refresh_from_db()
    assert message.status == SmsStatus.FAILED
    assert message.attempts == 1 and message.text_ciphertext is None
    assert "400" in message.last_error
    assert not [sms for sms in kannel.received() if sms.receiver == REFUSED_NUMBER]

    client = Client()
    client.post("/login/", {"phone": founder_phone(founder), "password": PASSWORD})
    page = client.get("/invitations/").content.decode()
    assert 'data-sms-status="not_delivered"' in page
    assert "Tell them another way" in page
    # Our logs: the masked number only, never the full one, the text or its link.
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert message.recipient_masked in logged
    assert REFUSED_NUMBER[1:] not in logged and text not in logged
    assert "/j/" not in logged.replace("/j/[token]", "")


def founder_phone(founder: Member) -> str:
    return crypto.decrypt(bytes(founder.phone_ciphertext), purpose=crypto.Purpose.PHONE_NUMBER)


def test_with_kannel_stopped_messages_wait_and_go_out_when_it_is_back(
    kannel: Kannel, site: SiteInThread, founder: Member, clock: FrozenClock
) -> None:
    number = "+79161114455"
    kannel.stop()
    try:
        message, text = invite(founder, number)
        for _ in range(3):  # three failed attempts, each waiting longer
            deliver_all()
            message.refresh_from_db()
            assert message.status == SmsStatus.QUEUED
            assert "unreachable" in message.last_error
            assert message.text_ciphertext is not None
            assert message.next_attempt_at > clock.current
            clock.current = message.next_attempt_at
        assert message.attempts == 3
    finally:
        kannel.start()
    deliver_all()
    wait_for_status(message, SmsStatus.DELIVERED)
    assert [sms.text for sms in kannel.wait_for_received(1, to=number)] == [text]


def test_too_old_a_message_is_failed_not_sent(
    kannel: Kannel, site: SiteInThread, founder: Member, clock: FrozenClock, settings: Any
) -> None:
    number = "+79161116677"
    message, _text = invite(founder, number)
    clock.advance(seconds=settings.SMS_MAX_AGE.total_seconds() + 1)
    deliver_all()
    message.refresh_from_db()
    assert message.status == SmsStatus.FAILED and "SMS_MAX_AGE" in message.last_error
    assert not [sms for sms in kannel.received() if sms.receiver == number]


OPERATIONS = REPO_ROOT / "docs" / "operations.md"


def documented_kannel_conf() -> str:
    """The kannel.conf block of docs/operations.md, as an operator would copy it."""
    blocks = OPERATIONS.read_text().split("```")[1::2]
    [block] = [block for block in blocks if "group = core" in block]
    return block.removeprefix("\n")


def test_the_documented_kannel_conf_has_no_comment_after_a_value() -> None:
    # Kannel reads "store-type = file   # …" as the value "file   # …" and refuses it.
    for line in documented_kannel_conf().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" not in line.split("=", 1)[1].replace('"', "").split("%")[0], line


def test_bearerbox_and_smsbox_start_with_the_documented_kannel_conf(tmp_path: Path) -> None:
    if not kannel_available():
        skip_or_fail(MISSING)
    admin_port, smsbox_port, sendsms_port, smsc_port = (free_port() for _ in range(4))
    # What the excerpt leaves to the operator: ports, an SMSC, where the files go.
    config = (
        documented_kannel_conf()
        .replace("/var/log/kannel", str(tmp_path))
        .replace("/var/spool/kannel", str(tmp_path))
        .replace("password = …", "password = sendsms-password")
        .replace("group = core\n", f"group = core\nadmin-port = {admin_port}\n"
                 "admin-interface = 127.0.0.1\nadmin-password = admin-password\n"
                 f"smsbox-port = {smsbox_port}\nsmsbox-interface = 127.0.0.1\n"
                 f"log-file = {tmp_path}/bearerbox.log\n")
        .replace("group = smsbox\n", "group = smsbox\nbearerbox-host = 127.0.0.1\n"
                 f"bearerbox-port = {smsbox_port}\nsendsms-port = {sendsms_port}\n"
                 f"sendsms-interface = 127.0.0.1\nlog-file = {tmp_path}/smsbox.log\n")
        + f"\ngroup = smsc\nsmsc = fake\nsmsc-id = fake\nhost = 127.0.0.1\nport = {smsc_port}\n"
        "connect-allow-ip = 127.0.0.1\n"
    )
    conf = tmp_path / "kannel.conf"
    conf.write_text(config)
    status_url = f"http://127.0.0.1:{admin_port}/status.txt?password=admin-password"
    boxes: list[subprocess.Popen[bytes]] = []

    def status() -> str:
        assert all(box.poll() is None for box in boxes), kannel_output(tmp_path)
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            return ""

    def wait_until(condition: Callable[[str], bool]) -> None:
        deadline = time.monotonic() + 30
        while not condition(status()):
            assert time.monotonic() < deadline, kannel_output(tmp_path)
            time.sleep(0.1)

    try:
        for program, up in (
            (BEARERBOX, lambda text: "Status:" in text),
            (SMSBOX, lambda text: "smsbox:" in text.split("Box connections:")[-1]),
        ):
            with (tmp_path / f"{Path(program).name}.out").open("ab") as sink:
                boxes.append(subprocess.Popen(
                    [program, "-v", "2", str(conf)], stdout=sink, stderr=subprocess.STDOUT,
                    cwd=tmp_path, start_new_session=True,
                ))
            wait_until(up)
        # (A first start also logs that the store file does not exist yet.)
        assert "PANIC" not in kannel_output(tmp_path)
    finally:
        for box in reversed(boxes):
            box.terminate()
        for box in boxes:
            box.wait(timeout=15)


def kannel_output(directory: Path) -> str:
    return "\n".join(path.read_text(errors="replace")
                     for path in sorted([*directory.glob("*.log"), *directory.glob("*.out")]))
