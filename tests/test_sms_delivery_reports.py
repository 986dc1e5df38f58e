"""The delivery-report endpoint: only the message's own token counts, reports are
idempotent and never move a message backwards, and a report settles a message a dead
worker left in doubt."""

from __future__ import annotations

import pytest
from django.test import Client

from inviteonly.lib.phone_numbers import normalize_phone_number
from inviteonly.sms.delivery import _claim_batch, deliver_due_messages
from inviteonly.sms.delivery_reports import (
    delivery_report_token,
    delivery_report_url,
)
from inviteonly.sms.models import OutboundSms, SmsPurpose, SmsStatus
from inviteonly.sms.outbox import queue_sms
from tests.conftest import FrozenClock, SmsOutbox

pytestmark = pytest.mark.django_db


def queue(number: str = "+79161234567") -> OutboundSms:
    return queue_sms(
        phone=normalize_phone_number(number), text="123456 is your code",
        purpose=SmsPurpose.JOIN_CODE,
    )


def report(message: OutboundSms, report_type: str, token: str | None = None) -> int:
    token = token if token is not None else delivery_report_token(message.id)
    response = Client().get(f"/sms/kannel/{message.id}/{token}/", {"type": report_type})
    message.refresh_from_db()
    return response.status_code


def test_the_url_carries_a_token_only_the_server_can_make() -> None:
    url = delivery_report_url(42, gateway="kannel")
    assert url == f"http://testserver/sms/kannel/42/{delivery_report_token(42)}/"
    assert delivery_report_token(42) != delivery_report_token(43)
    assert len(delivery_report_token(42)) == 64


def test_delivered_report_marks_the_message_delivered(sms_outbox: SmsOutbox) -> None:
    message = queue()
    sms_outbox.deliver()
    assert report(message, "8") == 204
    assert message.status == SmsStatus.SENT
    assert report(message, "1") == 204
    assert message.status == SmsStatus.DELIVERED and message.delivered_at is not None
    # A late or repeated "SMSC took it" does not move it back.
    assert report(message, "8") == 204
    assert report(message, "1") == 204
    assert message.status == SmsStatus.DELIVERED


@pytest.mark.parametrize("token", ["", "0" * 64, "not-a-token"])
def test_a_wrong_token_changes_nothing(sms_outbox: SmsOutbox, token: str) -> None:
    message = queue()
    sms_outbox.deliver()
    other = queue("+79161234568")
    # The right token of another message is a wrong token here.
    for candidate in (token, delivery_report_token(other.id)):
        status = report(message, "2", token=candidate)
        assert status in (403, 404)
        assert message.status == SmsStatus.SENT


def test_not_delivered_report_fails_the_message(sms_outbox: SmsOutbox) -> None:
    message = queue()
    sms_outbox.deliver()
    assert report(message, "16") == 204
    assert message.status == SmsStatus.FAILED
    assert "16" in message.last_error
    assert report(message, "1") == 204  # nothing reopens a final answer
    assert message.status == SmsStatus.FAILED


def test_buffered_and_unknown_reports_change_nothing(sms_outbox: SmsOutbox) -> None:
    message = queue()
    sms_outbox.deliver()
    for report_type in ("4", "", "999"):
        assert report(message, report_type) == 204
        assert message.status == SmsStatus.SENT


def test_a_report_settles_a_message_a_dead_worker_left_in_doubt(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    message = queue()
    # A worker claimed the message, handed it to Kannel and was killed before it
    # could record that: Kannel's "SMSC took it" report still arrives.
    assert len(_claim_batch(10, claim="killed-worker")) == 1
    assert report(message, "8") == 204
    assert message.status == SmsStatus.SENT
    assert message.sent_at is not None and message.claim == ""
    assert message.text_ciphertext is None
    # Once the dead worker's lease has run out, nobody sends it again.
    clock.advance(minutes=10)
    assert deliver_due_messages(gateway=sms_outbox.gateway) == 0
    assert sms_outbox.messages == []


def test_a_report_before_the_worker_records_its_answer_is_kept(
    sms_outbox: SmsOutbox,
) -> None:
    from inviteonly.sms import delivery

    message = queue()
    [claimed] = delivery._claim_batch(10, claim="worker")
    report(message, "1")  # Kannel was faster than our UPDATE
    delivery._record(claimed, claim="worker", gateway=sms_outbox.gateway, outcome="kannel-1")
    message.refresh_from_db()
    assert message.status == SmsStatus.DELIVERED


def test_reports_are_only_taken_by_get_or_post(sms_outbox: SmsOutbox) -> None:
    message = queue()
    token = delivery_report_token(message.id)
    assert Client().put(f"/sms/kannel/{message.id}/{token}/").status_code == 405
