"""The delivery-report endpoint: only the message's own token for this gateway counts,
and only for a message that went through this gateway; reports are idempotent and
never move a message backwards, and a report settles a message a dead worker left in
doubt."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from inviteonly import settings as site_settings
from inviteonly.lib import crypto
from inviteonly.lib.phone_numbers import normalize_phone_number
from inviteonly.sms import delivery_reports
from inviteonly.sms.delivery import deliver_due_messages
from inviteonly.sms.delivery_reports import (
    ReportOutcome,
    delivery_report_token,
    delivery_report_url,
    keep_part,
    record_part_report,
    sweep_undecided_parts,
)
from inviteonly.sms.gateways import SmsReceipt
from inviteonly.sms.gateways.memory import MemoryGateway
from inviteonly.sms.models import OutboundSms, SmsPart, SmsPurpose, SmsStatus
from inviteonly.sms.outbox import queue_sms
from tests.conftest import FrozenClock, SmsOutbox

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _refused_reports_logged_afresh() -> None:
    delivery_reports.forget_refused_reports()


class KannelStandIn(MemoryGateway):
    """Takes messages like the memory gateway, under Kannel's name: their reports come
    to /sms/kannel/ (tests/test_kannel.py drives the real Kannel)."""

    name = "kannel"

    def __init__(self, *, while_sending: Callable[[str], object] | None = None) -> None:
        super().__init__()
        self.while_sending = while_sending

    def send(self, *, to: str, text: str, reference: str, sender_id: str = "") -> SmsReceipt:
        receipt = super().send(to=to, text=text, reference=reference, sender_id=sender_id)
        if self.while_sending is not None:
            self.while_sending(reference)
        return receipt


class WorkerKilled(BaseException):
    """What SIGKILL does to a worker: nothing after it runs."""


def through_kannel(*, while_sending: Callable[[str], object] | None = None) -> KannelStandIn:
    """Deliver what is due as a worker does, through the Kannel stand-in."""
    gateway = KannelStandIn(while_sending=while_sending)
    while deliver_due_messages(gateway=gateway):
        pass
    return gateway


def queue(number: str = "+79161234567") -> OutboundSms:
    return queue_sms(
        phone=normalize_phone_number(number), text="123456 is your code",
        purpose=SmsPurpose.JOIN_CODE,
    )


def report(message: OutboundSms, report_type: str, token: str | None = None) -> int:
    token = token if token is not None else delivery_report_token(message.id, gateway="kannel")
    response = Client().get(f"/sms/kannel/{message.id}/{token}/", {"type": report_type})
    message.refresh_from_db()
    return response.status_code


def test_the_url_carries_a_token_only_the_server_can_make() -> None:
    url = delivery_report_url(42, gateway="kannel")
    token = delivery_report_token(42, gateway="kannel")
    assert url == f"http://testserver/sms/kannel/42/{token}/"
    assert token != delivery_report_token(43, gateway="kannel")
    # Each gateway is given its own token: one seen in a Twilio callback (in Twilio's
    # console, a proxy's log) is no Kannel token.
    assert token != delivery_report_token(42, gateway="twilio")
    assert len(token) == 64


def test_delivered_report_marks_the_message_delivered() -> None:
    message = queue()
    through_kannel()
    assert report(message, "8") == 204
    assert message.status == SmsStatus.SENT
    assert report(message, "1") == 204
    assert message.status == SmsStatus.DELIVERED and message.delivered_at is not None
    # A late or repeated "SMSC took it" does not move it back.
    assert report(message, "8") == 204
    assert report(message, "1") == 204
    assert message.status == SmsStatus.DELIVERED


@pytest.mark.parametrize("token", ["", "0" * 64, "not-a-token"])
def test_a_wrong_token_changes_nothing(token: str) -> None:
    message = queue()
    other = queue("+79161234568")
    through_kannel()
    # The right token of another message, or of this one for another gateway, is a
    # wrong token here.
    for candidate in (token, delivery_report_token(other.id, gateway="kannel"),
                      delivery_report_token(message.id, gateway="twilio")):
        status = report(message, "2", token=candidate)
        assert status in (403, 404)
        assert message.status == SmsStatus.SENT


def test_not_delivered_report_fails_the_message() -> None:
    message = queue()
    through_kannel()
    assert report(message, "16") == 204
    assert message.status == SmsStatus.FAILED
    assert "16" in message.last_error
    assert report(message, "1") == 204  # nothing reopens a final answer
    assert message.status == SmsStatus.FAILED


@pytest.mark.parametrize(("final", "status"), [("1", SmsStatus.DELIVERED),
                                               ("2", SmsStatus.FAILED),
                                               ("16", SmsStatus.FAILED)])
def test_no_report_moves_a_message_out_of_its_final_answer(final: str, status: SmsStatus) -> None:
    """Even from smsbox with the right URL: a report replayed, forged or late."""
    message = queue()
    through_kannel()
    assert report(message, final) == 204
    answered = (message.status, message.delivered_at, message.last_error, message.sent_at)
    assert message.status == status
    for report_type in ("1", "2", "4", "8", "16"):
        assert report(message, report_type) == 204
        assert (message.status, message.delivered_at, message.last_error,
                message.sent_at) == answered


def test_buffered_and_unknown_reports_change_nothing() -> None:
    message = queue()
    through_kannel()
    for report_type in ("4", "", "999"):
        assert report(message, report_type) == 204
        assert message.status == SmsStatus.SENT


def test_a_report_settles_a_message_a_dead_worker_left_in_doubt(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    message = queue()

    def killed(reference: str) -> None:
        raise WorkerKilled

    # A worker handed the message to Kannel and was killed before it could record
    # that: Kannel's "SMSC took it" report still arrives.
    with pytest.raises(WorkerKilled):
        through_kannel(while_sending=killed)
    message.refresh_from_db()
    assert (message.status, message.gateway) == (SmsStatus.SENDING, "")
    # The URL's token names Kannel, which only a worker handing the message to Kannel
    # puts in a URL: the report is taken, and says which gateway sent it.
    assert report(message, "8") == 204
    assert (message.status, message.gateway) == (SmsStatus.SENT, "kannel")
    assert message.sent_at is not None and message.claim == ""
    assert message.text_ciphertext is None
    # Once the dead worker's lease has run out, nobody sends it again.
    clock.advance(minutes=10)
    assert deliver_due_messages(gateway=sms_outbox.gateway) == 0
    assert sms_outbox.messages == []


def test_a_report_before_the_worker_records_its_answer_is_kept() -> None:
    message = queue()
    # Kannel was faster than our UPDATE.
    through_kannel(while_sending=lambda reference: report(message, "1"))
    message.refresh_from_db()
    assert message.status == SmsStatus.DELIVERED


def test_a_report_for_a_message_of_another_gateway_changes_nothing(
    sms_outbox: SmsOutbox,
) -> None:
    message = queue()
    sms_outbox.deliver()  # through the memory gateway, not Kannel
    message.refresh_from_db()
    assert (message.status, message.gateway) == (SmsStatus.SENT, "memory")
    # Tokens another gateway was given, and the one of before tokens named gateways:
    # refused at Kannel's endpoint.
    for token in (delivery_report_token(message.id, gateway="twilio"),
                  delivery_report_token(message.id, gateway="memory"),
                  crypto.token_digest(str(message.id), context="sms-delivery-report")):
        for report_type in ("16", "1", "4"):
            assert report(message, report_type, token=token) == 403
    # Even Kannel's own token (a route changed between attempts) changes nothing on a
    # message another gateway sent.
    assert report(message, "16") == 204
    assert (message.status, message.gateway, message.last_error) == (
        SmsStatus.SENT, "memory", ""
    )


def test_a_report_for_a_message_never_handed_to_a_gateway_changes_nothing(
    sms_outbox: SmsOutbox,
) -> None:
    """A forged "sent" would wipe the text of a message waiting for its (next) attempt
    and it would never go out."""
    message = queue()
    # No worker handed it to Kannel, so nobody holds its Kannel token; any other is
    # refused (a Twilio one included, as seen in Twilio's console or a proxy's log).
    for token in (delivery_report_token(message.id, gateway="twilio"),
                  crypto.token_digest(str(message.id), context="sms-delivery-report")):
        assert report(message, "8", token=token) == 403
        assert report(message, "16", token=token) == 403
    assert message.status == SmsStatus.QUEUED and message.text_ciphertext is not None
    [delivered] = sms_outbox.deliver()
    assert delivered.text == "123456 is your code"


def test_a_token_from_before_the_upgrade_counts_only_for_the_gateway_it_was_sent_through(
    sms_outbox: SmsOutbox,
) -> None:
    """URLs handed out before tokens named their gateway carried an HMAC of the message
    id alone, the same for every gateway."""
    old_kannel = queue()
    through_kannel()
    old_memory = queue("+79161234568")
    sms_outbox.deliver()

    def old_token(message: OutboundSms) -> str:
        return crypto.token_digest(str(message.id), context="sms-delivery-report")

    assert report(old_kannel, "1", token=old_token(old_kannel)) == 204
    assert old_kannel.status == SmsStatus.DELIVERED
    assert report(old_memory, "16", token=old_token(old_memory)) == 403
    assert old_memory.status == SmsStatus.SENT


def test_reports_are_only_taken_by_get_or_post() -> None:
    message = queue()
    through_kannel()
    token = delivery_report_token(message.id, gateway="kannel")
    assert Client().put(f"/sms/kannel/{message.id}/{token}/").status_code == 405


# Kannel signs nothing: the token in the URL names the message, but the report type is
# Kannel's %d in the query string. Whoever has read one report URL (a proxy's access
# log, Kannel's own) could call it with another type; only smsbox's address is taken.


def report_from(
    address: str, message: OutboundSms, report_type: str, *, forwarded_for: str = ""
) -> int:
    token = delivery_report_token(message.id, gateway="kannel")
    client = Client(REMOTE_ADDR=address)
    if forwarded_for:
        client.defaults["HTTP_X_FORWARDED_FOR"] = forwarded_for
    response = client.get(f"/sms/kannel/{message.id}/{token}/", {"type": report_type})
    message.refresh_from_db()
    return response.status_code


def test_a_report_with_the_right_url_from_elsewhere_than_kannel_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = queue()
    through_kannel()
    token = delivery_report_token(message.id, gateway="kannel")
    # A forged "not delivered", and a replayed "delivered": neither is Kannel's.
    assert report_from("203.0.113.9", message, "2") == 403
    assert report_from("203.0.113.9", message, "1") == 403
    assert (message.status, message.last_error, message.delivered_at) == (
        SmsStatus.SENT, "", None
    )
    assert "refused" in caplog.text and "203.0.113.9" in caplog.text
    assert token not in caplog.text
    # Kannel's own report still counts.
    assert report(message, "1") == 204
    assert message.status == SmsStatus.DELIVERED


def test_kannel_elsewhere_is_named_by_its_network_behind_the_sites_proxies(
    settings: Any,
) -> None:
    settings.KANNEL_DELIVERY_REPORT_SOURCES = [ipaddress.ip_network("10.0.5.0/24")]
    settings.TRUSTED_PROXY_COUNT = 1
    message = queue()
    through_kannel()
    proxy = "127.0.0.1"
    # The proxy itself (this machine) is no longer Kannel, nor is a client that
    # writes Kannel's address into X-Forwarded-For before the proxy appends its own.
    assert report_from(proxy, message, "16") == 403
    assert report_from(proxy, message, "16", forwarded_for="10.0.5.7, 198.51.100.4") == 403
    assert message.status == SmsStatus.SENT
    assert report_from(proxy, message, "1", forwarded_for="10.0.5.7") == 204
    assert message.status == SmsStatus.DELIVERED


def test_refused_reports_are_logged_once_a_minute_with_a_count(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood of forged reports must not flood the log."""
    now = [1000.0]
    monkeypatch.setattr(delivery_reports, "_monotonic", lambda: now[0])
    message = queue()
    through_kannel()
    for _ in range(5):
        assert report_from("203.0.113.9", message, "2") == 403
    refused = [record for record in caplog.records if "refused" in record.getMessage()]
    assert len(refused) == 1
    now[0] += 61
    assert report(message, "2", token="0" * 64) == 403
    refused = [record for record in caplog.records if "refused" in record.getMessage()]
    assert len(refused) == 2
    assert "4 more" in refused[1].getMessage() and "wrong token" in refused[1].getMessage()
    assert "0" * 64 not in caplog.text


def test_kannel_sources_are_addresses_or_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVITEONLY_KANNEL_DELIVERY_REPORT_SOURCES", "10.0.5.7, 2001:db8::/32")
    assert site_settings._env_networks("INVITEONLY_KANNEL_DELIVERY_REPORT_SOURCES") == [
        ipaddress.ip_network("10.0.5.7/32"), ipaddress.ip_network("2001:db8::/32")
    ]
    monkeypatch.setenv("INVITEONLY_KANNEL_DELIVERY_REPORT_SOURCES", "smsbox.internal")
    with pytest.raises(ImproperlyConfigured, match="INVITEONLY_KANNEL_DELIVERY_REPORT_SOURCES"):
        site_settings._env_networks("INVITEONLY_KANNEL_DELIVERY_REPORT_SOURCES")


def test_parts_whose_receipts_never_came_are_swept_after_the_wait(clock: FrozenClock) -> None:
    """An SMPP message's parts wait SMS_PART_RECEIPT_WAIT for their receipts; then
    `sweep` deletes them (they would stay for ever), and a receipt after that changes
    nothing. Parts still within the wait, and their receipts, are left alone."""
    old, recent = queue("+79161234567"), queue("+79161234568")
    for part in (1, 2):
        keep_part(message_id=old.id, number=part, count=2, gateway_message_id=f"old-{part}")
    clock.advance(days=2)
    for part in (1, 2):
        keep_part(message_id=recent.id, number=part, count=2, gateway_message_id=f"new-{part}")
    clock.advance(days=1, seconds=1)
    assert sweep_undecided_parts() == 2
    assert sorted(SmsPart.objects.values_list("gateway_message_id", flat=True)) == [
        "new-1", "new-2",
    ]
    assert not record_part_report(
        outcome=ReportOutcome.DELIVERED, gateway="smpp", gateway_message_id="old-2"
    )
    clock.advance(days=2)
    assert sweep_undecided_parts() == 2
    assert not SmsPart.objects.exists()
