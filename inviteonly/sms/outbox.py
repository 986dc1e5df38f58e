"""Queueing an SMS: one encrypted outbox row, written in the caller's transaction."""

from __future__ import annotations

from inviteonly.lib import crypto
from inviteonly.lib.phone_numbers import PhoneNumber
from inviteonly.lib.sms_text import shape_of
from inviteonly.sms.models import OutboundSms, SmsPurpose


def queue_sms(*, phone: PhoneNumber, text: str, purpose: SmsPurpose) -> OutboundSms:
    shape = shape_of(text)
    return OutboundSms.objects.create(
        purpose=purpose,
        recipient_ciphertext=crypto.encrypt(phone.e164, purpose=crypto.Purpose.PHONE_NUMBER),
        recipient_masked=phone.masked,
        region=phone.region,
        text_ciphertext=crypto.encrypt(text, purpose=crypto.Purpose.SMS_TEXT),
        encoding=shape.encoding,
        segments=shape.segments,
    )
