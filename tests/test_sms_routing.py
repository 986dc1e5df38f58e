"""Routes by country: each message goes through its country's gateway under its
sender id; countries without a route use the defaults."""

from __future__ import annotations

from typing import Any

import pytest

from inviteonly.lib.phone_numbers import normalize_phone_number
from inviteonly.sms.delivery import deliver_due_messages
from inviteonly.sms.models import OutboundSms, SmsPurpose, SmsStatus
from inviteonly.sms.outbox import queue_sms
from tests.conftest import SmsOutbox

pytestmark = pytest.mark.django_db


def test_each_country_goes_out_under_its_routes_sender(
    sms_outbox: SmsOutbox, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.SMS_SENDER_ID = "Inviteonly"
    settings.SMS_ROUTES = {
        "US": {"sender_id": "+14155550100"},
        "GB": {"gateway": "console"},
    }
    numbers = {"RU": "+79161234567", "US": "+14155550123", "GB": "+447400123456"}
    for number in numbers.values():
        queue_sms(phone=normalize_phone_number(number), text="hello",
                  purpose=SmsPurpose.JOIN_CODE)
    while deliver_due_messages():
        pass
    sent = {sms.to: sms.sender_id for sms in sms_outbox.messages}
    assert sent == {numbers["RU"]: "Inviteonly", numbers["US"]: "+14155550100"}
    rows = {row.region: row for row in OutboundSms.objects.all()}
    assert {region: (row.gateway, row.sender_id) for region, row in rows.items()} == {
        "RU": ("memory", "Inviteonly"),
        "US": ("memory", "+14155550100"),
        "GB": ("console", "Inviteonly"),
    }
    assert all(row.status == SmsStatus.SENT for row in rows.values())
    printed = capsys.readouterr().out  # the console gateway prints, number masked
    assert f"SMS to {rows['GB'].recipient_masked}" in printed and numbers["GB"] not in printed
