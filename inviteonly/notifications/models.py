"""A notice shown to one member; its text is rendered in the reader's language."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from inviteonly.lib import clock


class NotificationKind(models.TextChoices):
    INVITEE_JOINED = "invitee_joined", _("Your invitee joined")
    PASSWORD_RECOVERED = "password_recovered", _("Your password was changed")
    FRIEND_REQUEST = "friend_request", _("Friend request")
    FRIEND_ACCEPTED = "friend_accepted", _("Friend request accepted")


class Notification(models.Model):
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    # The other member concerned (the invitee who joined, the friend), if any.
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [models.Index(fields=["member", "-created_at"], name="notification_recent")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.member_id}"
