"""Operators' counts: SMS per country and gateway, with segments and outcomes."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from inviteonly.lib.phone_numbers import normalize_phone_number
from inviteonly.sms.models import SmsPurpose, SmsStatus
from inviteonly.sms.outbox import queue_sms
from inviteonly.sms.queries import DeliveryCounts, delivery_counts
from tests.conftest import FrozenClock, SmsOutbox

pytestmark = pytest.mark.django_db


def test_counts_per_country_and_gateway_with_segments(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    def queue(number: str, text: str, **kwargs: bool) -> None:
        queue_sms(phone=normalize_phone_number(number), text=text,
                  purpose=SmsPurpose.INVITATION, **kwargs)

    queue("+79161234567", "Привет " * 15)  # UCS-2, 105 characters: two segments
    queue("+79161234568", "hello")
    queue("+447400123456", "hello")
    queue("+79161234569", "hello", suppressed=True)  # never left: not counted
    sms_outbox.gateway.refused_numbers.add("+447400123456")
    sms_outbox.deliver()
    assert delivery_counts(since=clock.current) == [
        DeliveryCounts(region="GB", gateway="memory", messages=1, segments=1, delivered=0,
                       sent=0, failed=1, waiting=0),
        DeliveryCounts(region="RU", gateway="memory", messages=2, segments=3, delivered=0,
                       sent=2, failed=0, waiting=0),
    ]
    output = StringIO()
    call_command("sms_report", "--days", "1", stdout=output)
    lines = output.getvalue().splitlines()
    assert lines[0].split() == ["country", "gateway", "messages", "segments", "delivered",
                                "sent", "failed", "waiting"]
    assert lines[2].split() == ["RU", "memory", "2", "3", "0", "2", "0", "0"]
    assert SmsStatus.SUPPRESSED not in output.getvalue()
