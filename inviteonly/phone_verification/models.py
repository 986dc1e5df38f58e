"""A pending proof of possession of a number: a code sent by SMS, waiting to be typed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from inviteonly.lib import clock


class VerificationPurpose(models.TextChoices):
    JOIN = "join", _("Joining")
    RECOVERY = "recovery", _("Password recovery")
    PHONE_CHANGE = "phone_change", _("Moving an account to a new number")


class PhoneVerification(models.Model):
    """One code sent to one number for one purpose.

    The code and the verification token (the handle the API client holds) are stored
    only as digests. A join verification carries what the newcomer typed, with the
    password already hashed, so the account can be created the moment the code is
    right; that payload is wiped when the verification is consumed. A recovery
    verification for a number that has no account has ``member`` unset: it looks and
    behaves like any other, and no code can ever confirm it (``can_succeed`` is off).
    """

    purpose = models.CharField(max_length=16, choices=VerificationPurpose.choices)
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    code_digest = models.CharField(max_length=64, editable=False)
    # False for a decoy (a number without an account, a number the join link was not
    # sent to): it looks like any other verification and no code confirms it.
    can_succeed = models.BooleanField(default=True)
    phone_blind_index = models.CharField(max_length=64)
    phone_ciphertext = models.BinaryField(editable=False)
    phone_masked = models.CharField(max_length=32)
    # The number's country, for the SMS-pumping budgets (abuse/sms_budget.py).
    region = models.CharField(max_length=2, blank=True)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    invitation = models.ForeignKey(
        "invitations.Invitation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="verifications",
    )
    pending_display_name = models.CharField(max_length=settings.DISPLAY_NAME_MAX_LENGTH, blank=True)
    pending_password_hash = models.CharField(max_length=256, blank=True)
    pending_language = models.CharField(max_length=8, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    failed_attempts = models.PositiveIntegerField(default=0)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("phone verification")
        verbose_name_plural = _("phone verifications")
        indexes = [
            # Open codes of a number (superseded by a new one) and its recent failures.
            models.Index(fields=["phone_blind_index", "purpose", "created_at"],
                         name="verification_number_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.phone_masked}"
