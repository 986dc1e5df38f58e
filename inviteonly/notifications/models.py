"""A notice shown to one member; its text is rendered in the reader's language."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from inviteonly.lib import clock


class NotificationKind(models.TextChoices):
    INVITEE_JOINED = "invitee_joined", _("Your invitee joined")
    PASSWORD_RECOVERED = "password_recovered", _("Your password was changed")
    # Changed by the member while logged in (not by recovery): the same label.
    PASSWORD_CHANGED = "password_changed", _("Your password was changed")
    PHONE_CHANGED = "phone_changed", _("Your account moved to a new number")
    INVITEE_BANNED = "invitee_banned", _("Someone you invited was banned")
    # The same, to an inviter the banning moderator may not act on: no strike.
    INVITEE_BANNED_NO_STRIKE = "invitee_banned_no_strike", _("Someone you invited was banned")
    INVITE_RIGHTS_SUSPENDED = "invite_rights_suspended", _("Your invite rights were suspended")
    INVITE_RIGHTS_GRANTED = "invite_rights_granted", _("A moderator granted you invite rights")
    INVITE_RIGHTS_GRANT_WITHDRAWN = (
        "invite_rights_grant_withdrawn", _("A moderator withdrew your invite rights grant")
    )
    # The SMS of an invitation the member sent on a request failed for good: revoked,
    # its allowance given back (invitation_requests.actions.settle_undelivered_invitations).
    REQUEST_INVITATION_UNDELIVERED = (
        "request_invitation_undelivered", _("Your invitation on a request was not delivered")
    )
    WARNED = "warned", _("A moderator warned you")
    QUARANTINED = "quarantined", _("Your account was quarantined")
    SANCTION_LIFTED = "sanction_lifted", _("A sanction on your account ended")
    FRIEND_REQUEST = "friend_request", _("Friend request")
    FRIEND_ACCEPTED = "friend_accepted", _("Friend request accepted")
    REPORT_DISMISSED = "report_dismissed", _("Your report was dismissed")
    REPORT_CONTENT_REMOVED = "report_content_removed", _("Reported content removed")
    REPORT_AUTHOR_WARNED = "report_author_warned", _("Reported member warned")
    REPORT_AUTHOR_QUARANTINED = "report_author_quarantined", _("Reported member quarantined")
    REPORT_AUTHOR_BANNED = "report_author_banned", _("Reported member banned")
    # An operator changed the member's role: one kind per role it is now.
    ROLE_FOUNDER = "role_founder", _("You were made a founder")
    ROLE_MODERATOR = "role_moderator", _("You were made a moderator")
    ROLE_MEMBER = "role_member", _("Your role is now member")


class Notification(models.Model):
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    # The other member concerned (the invitee who joined, the friend), if any.
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Why it happened, as a moderator wrote it (a ban's reason), if any.
    reason = models.CharField(max_length=settings.MODERATION_REASON_MAX_LENGTH, blank=True)
    # Until when, for notices about something that lapses (a suspension).
    until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    # When a list (the API's or the home page's) first showed it to the member: only a
    # notice shown can be marked read (notifications.actions.do_mark_notifications_read).
    shown_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        # Listed newest first by id, the order "read up to" marks in.
        indexes = [models.Index(fields=["member", "-id"], name="notification_newest")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.member_id}"
