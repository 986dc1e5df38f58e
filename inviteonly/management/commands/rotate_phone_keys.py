"""`inviteonly rotate_phone_keys`: re-encrypt everything not under the current key.

Rotation: put a new key first in INVITEONLY_PHONE_ENCRYPTION_KEYS (keep the old one
after it), restart, run this command, then remove the old key.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import models

from inviteonly.accounts.models import Member
from inviteonly.invitation_requests.models import InvitationRequest
from inviteonly.invitations.models import Invitation
from inviteonly.lib import crypto
from inviteonly.phone_verification.models import PhoneVerification
from inviteonly.sms.models import OutboundSms

# Every encrypted column, with what it holds.
ENCRYPTED_COLUMNS: list[tuple[type[models.Model], str, crypto.Purpose]] = [
    (Member, "phone_ciphertext", crypto.Purpose.PHONE_NUMBER),
    (Invitation, "phone_ciphertext", crypto.Purpose.PHONE_NUMBER),
    (InvitationRequest, "phone_ciphertext", crypto.Purpose.PHONE_NUMBER),
    (PhoneVerification, "phone_ciphertext", crypto.Purpose.PHONE_NUMBER),
    (OutboundSms, "recipient_ciphertext", crypto.Purpose.PHONE_NUMBER),
    (OutboundSms, "text_ciphertext", crypto.Purpose.SMS_TEXT),
]
BATCH_SIZE = 500


def rotate_encrypted_columns() -> int:
    """Re-encrypt every value whose key id is not the current one; return how many."""
    current = crypto.current_key_id()
    rotated = 0
    for model, column, purpose in ENCRYPTED_COLUMNS:
        rows = model._default_manager.exclude(**{f"{column}__isnull": True}).values_list(
            "pk", column
        )
        for pk, blob in rows.iterator(chunk_size=BATCH_SIZE):
            if not blob or crypto.key_id_of(bytes(blob)) == current:
                continue
            plaintext = crypto.decrypt(bytes(blob), purpose=purpose)
            fresh = crypto.encrypt(plaintext, purpose=purpose)
            # Conditional on the old value: a row rewritten meanwhile is left alone.
            model._default_manager.filter(pk=pk, **{column: blob}).update(**{column: fresh})
            rotated += 1
    return rotated


class Command(BaseCommand):
    help = "Re-encrypt phone numbers and SMS texts under the first (current) encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rotated = rotate_encrypted_columns()
        except crypto.KeyConfigurationError as error:
            raise CommandError(
                f"{error}: values are still encrypted under it. Put the key back in "
                "INVITEONLY_PHONE_ENCRYPTION_KEYS (after the current one) and run this again."
            ) from error
        self.stdout.write(f"Re-encrypted {rotated} values under key {crypto.current_key_id()!r}.")
