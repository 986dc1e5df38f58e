"""Queueing an SMS: one encrypted outbox row, written in the caller's transaction."""

from __future__ import annotations

from inviteonly.lib import crypto
from inviteonly.lib.phone_numbers import PhoneNumber
from inviteonly.lib.queries import insert_later
from inviteonly.lib.sms_text import shape_of
from inviteonly.sms.models import OutboundSms, SmsPurpose, SmsStatus


def queue_sms(
    *, phone: PhoneNumber, text: str, purpose: SmsPurpose, suppressed: bool = False
) -> OutboundSms:
    """Queue one SMS. ``suppressed`` writes the same row with the same work but sends
    nothing (a member's number invited again, a decoy): registered and unregistered
    numbers then cost the same time to answer."""
    shape = shape_of(text)
    ciphertext = crypto.encrypt(text, purpose=crypto.Purpose.SMS_TEXT)
    return insert_later(OutboundSms(
        purpose=purpose,
        recipient_ciphertext=crypto.encrypt(phone.e164, purpose=crypto.Purpose.PHONE_NUMBER),
        recipient_masked=phone.masked,
        region=phone.region,
        text_ciphertext=None if suppressed else ciphertext,
        encoding=shape.encoding,
        segments=shape.segments,
        status=SmsStatus.QUEUED,
        suppressed=suppressed,
    ))
