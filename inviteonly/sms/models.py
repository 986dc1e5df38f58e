"""The SMS outbox: actions write rows in their own transaction, workers deliver them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from inviteonly.lib import clock


class SmsStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    # Claimed by a worker until ``next_attempt_at``; back in the queue if it dies.
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Not delivered")
    # Never sent (``OutboundSms.suppressed``), finished by a worker as a sent one is.
    SUPPRESSED = "suppressed", _("Not sent")


class SmsStatusForSender(models.TextChoices):
    """What the member who sent an invitation sees of its SMS. A suppressed SMS (the
    number is a member's) waits in the queue and is taken by a worker like any other,
    then shows as sent: the page must not tell."""

    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    NOT_DELIVERED = "not_delivered", _(
        "Not delivered: the SMS did not reach this number. Tell them another way, "
        "or check the number and invite again."
    )
    # An invitation granted on a request: its sender never saw the number nor knows
    # whose it is, so there is nothing for them to check or tell (the requester's status
    # page says what to do; invitation_requests.actions.settle_undelivered_invitations).
    NOT_DELIVERED_ON_REQUEST = "not_delivered_on_request", _(
        "Not delivered to the number of the request."
    )

    @classmethod
    def of(cls, status: str | None, *, from_request: bool = False) -> SmsStatusForSender:
        if status == SmsStatus.FAILED:
            return cls.NOT_DELIVERED_ON_REQUEST if from_request else cls.NOT_DELIVERED
        if status in (SmsStatus.QUEUED, SmsStatus.SENDING):
            return cls.SENDING
        return cls.SENT


class SmsPurpose(models.TextChoices):
    INVITATION = "invitation", _("Invitation")
    JOIN_CODE = "join_code", _("Join code")
    RECOVERY_CODE = "recovery_code", _("Recovery code")
    PHONE_CHANGE_CODE = "phone_change", _("Code for a new number")
    # To the number an account moved away from: so a stolen session cannot move it unseen.
    PHONE_MOVED_NOTICE = "phone_moved", _("Account moved to another number")


class OutboundSms(models.Model):
    """One SMS. The recipient and the text (which holds a code or a join link) are
    encrypted; the text is wiped once the gateway has accepted the message."""

    purpose = models.CharField(_("purpose"), max_length=16, choices=SmsPurpose.choices)
    recipient_ciphertext = models.BinaryField()
    recipient_masked = models.CharField(_("recipient"), max_length=32)
    region = models.CharField(_("country"), max_length=2, blank=True)
    text_ciphertext = models.BinaryField(null=True, blank=True)
    encoding = models.CharField(_("encoding"), max_length=8)
    segments = models.PositiveSmallIntegerField(_("segments"))
    status = models.CharField(
        _("status"), max_length=16, choices=SmsStatus.choices, default=SmsStatus.QUEUED
    )
    # Queued, claimed and finished like the others, but nothing leaves: a member's
    # number invited again, a decoy. Members' and strangers' numbers then look alike
    # to the sender, and cost the workers the same, until the gateway is down (then
    # real messages wait and these do not).
    suppressed = models.BooleanField(default=False)
    # Integers, not small ones: an outage adds an attempt every few minutes for as long
    # as SMS_MAX_AGE (up to 100 years) allows, and small integers overflowed after 56
    # days of it.
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # Attempts that ended in a retryable error (the gateway down, throttling): the
    # rest of ``attempts``, but for the one in progress, are claims whose worker died.
    failed_attempts = models.PositiveIntegerField(default=0)
    # The worker holding the message while ``sending`` (a random token per batch).
    claim = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(_("queued"), default=clock.now)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=clock.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    # The sender id it went out under (an alphanumeric name or a number).
    sender_id = models.CharField(_("sender"), max_length=16, blank=True)
    gateway = models.CharField(_("gateway"), max_length=32, blank=True)
    gateway_message_id = models.CharField(_("gateway's message id"), max_length=128, blank=True)
    last_error = models.CharField(_("last error"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("SMS")
        verbose_name_plural = _("SMS outbox")
        indexes = [
            # The delivery worker's scan: due messages (queued, or claimed by a worker
            # whose lease ran out), oldest first.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=models.Q(status__in=["queued", "sending"]),
                name="sms_due",
            ),
            # Delivery reports that name a message by the gateway's id (SMPP, Twilio).
            models.Index(
                fields=["gateway", "gateway_message_id"],
                condition=~models.Q(gateway_message_id=""),
                name="sms_gateway_message",
            ),
        ]

    def __str__(self) -> str:
        return f"SMS #{self.pk} {self.get_purpose_display()} → {self.recipient_masked} " \
            f"({self.get_status_display()})"


class GatewayOutage(models.Model):
    """A gateway whose last answer to a real message was a failure worth retrying (down,
    throttling), shared by every delivery worker: a worker that has not met the failure
    itself holds its suppressed messages back all the same (``delivery.
    _suppressed_outcome``). The gateway's next success deletes the row; older than the
    longest retry delay, it no longer counts."""

    gateway = models.CharField(_("gateway"), max_length=32, primary_key=True)
    failed_at = models.DateTimeField(_("last failure"))
    # What the real message was answered: what a suppressed one is recorded with.
    error = models.CharField(_("last error"), max_length=200)

    class Meta:
        verbose_name = _("SMS gateway outage")
        verbose_name_plural = _("SMS gateway outages")

    def __str__(self) -> str:
        return f"{self.gateway} ({self.failed_at:%Y-%m-%d %H:%M:%S})"


class SmsPart(models.Model):
    """One part of an SMS sent over SMPP, under the id the SMSC answered its
    ``submit_sm`` with: the part's receipt is matched by that id on whichever worker's
    bind it arrives, after any restart, and the message is delivered once every part
    is (``delivery_reports.record_part_report``). Kept until the receipts decide, or
    until ``sweep`` gives up waiting for them."""

    # Indexed by the unique constraint below, whose first column it is.
    sms = models.ForeignKey(
        OutboundSms, on_delete=models.CASCADE, related_name="parts", db_index=False
    )
    # This part's number, 1 to ``count``: how many parts the message was sent in.
    number = models.PositiveSmallIntegerField()
    count = models.PositiveSmallIntegerField()
    gateway_message_id = models.CharField(max_length=128)
    delivered = models.BooleanField(default=False)
    # When the SMSC answered with the id: a part whose receipt has not come
    # SMS_PART_RECEIPT_WAIT later is deleted by `sweep` (a receipt never asked for,
    # or lost, would keep it for ever).
    submitted_at = models.DateTimeField()

    class Meta:
        constraints = [
            # A message sent again (its first part failed) takes its parts' new ids.
            models.UniqueConstraint(fields=["sms", "number"], name="sms_part_number"),
        ]
        indexes = [
            # Receipts name the part by the SMSC's id.
            models.Index(fields=["gateway_message_id"], name="sms_part_gateway_message"),
            # The sweep.
            models.Index(fields=["submitted_at"], name="sms_part_submitted"),
        ]

    def __str__(self) -> str:
        return f"SMS #{self.sms_id} part {self.number}/{self.count}"
