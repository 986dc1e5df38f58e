"""Append-only audit entries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from inviteonly.lib import clock


class AuditAction(models.TextChoices):
    INVITATION_CREATED = "invitation_created", _("Invitation created")
    FOUNDER_INVITATION_CREATED = "founder_invitation_created", _("Founder invitation created")
    JOIN_STARTED = "join_started", _("Join started, code sent")
    MEMBER_JOINED = "member_joined", _("Member joined")
    INVITATION_REDEEMED = "invitation_redeemed", _("Invitation redeemed")
    CODE_REJECTED = "code_rejected", _("Wrong confirmation code")
    LOGIN_SUCCEEDED = "login_succeeded", _("Logged in")
    LOGIN_FAILED = "login_failed", _("Login failed")
    LOGGED_OUT = "logged_out", _("Logged out")
    OTHER_SESSIONS_ENDED = "other_sessions_ended", _(
        "Logged out everywhere else by the member"
    )
    SESSION_ENDED = "session_ended", _("A session ended by the member")
    RECOVERY_REQUESTED = "recovery_requested", _("Password recovery requested")
    PASSWORD_RECOVERED = "password_recovered", _("Password reset via recovery")
    PASSWORD_CHANGED = "password_changed", _("Password changed by the member")
    PASSWORD_CHANGE_FAILED = "password_change_failed", _(
        "Password change refused: wrong current password"
    )
    PHONE_CHANGE_REQUESTED = "phone_change_requested", _("Code sent to a new number")
    PHONE_CHANGED = "phone_changed", _("Account moved to a new number")
    REGISTRATION_MODE_CHANGED = "registration_mode_changed", _("Registration mode changed")
    RATE_LIMITED = "rate_limited", _("Refused by a rate limit")
    INVITATION_REQUESTED = "invitation_requested", _("Invitation requested")
    INVITATION_REQUEST_VOUCHED = "invitation_request_vouched", _("Vouched for a request")
    INVITATION_REQUEST_GRANTED = "invitation_request_granted", _("Invitation request granted")
    INVITATION_REQUEST_WITHDRAWN = (
        "invitation_request_withdrawn", _("Invitation request withdrawn by its requester")
    )
    INVITATION_REVOKED = "invitation_revoked", _("Invitation revoked")
    INVITATION_UNDELIVERED = "invitation_undelivered", _(
        "Invitation SMS of a granted request not delivered: invitation revoked"
    )
    INVITATIONS_REVOKED_BY_BAN = "invitations_revoked_by_ban", _(
        "Unredeemed invitations revoked by a ban"
    )
    INVITATIONS_GIVEN_BACK_AFTER_BAN = "invitations_given_back_after_ban", _(
        "Allowance given back for invitations revoked by a ban declared a mistake"
    )
    INVITE_RIGHTS_GRANTED = "invite_rights_granted", _("Invite rights granted")
    INVITE_RIGHTS_GRANT_WITHDRAWN = "invite_rights_grant_withdrawn", _(
        "Invite rights grant withdrawn"
    )
    INVITE_RIGHTS_SUSPENDED = "invite_rights_suspended", _("Invite rights suspended")
    MEMBER_WARNED = "member_warned", _("Member warned")
    MEMBER_QUARANTINED = "member_quarantined", _("Member quarantined")
    MEMBER_BANNED = "member_banned", _("Member banned")
    SANCTION_LIFTED = "sanction_lifted", _("Sanction ended")
    STRIKE_RECORDED = "strike_recorded", _("Strike recorded against the inviter")
    STRIKE_WITHDRAWN = "strike_withdrawn", _("Strike against the inviter withdrawn")
    BRANCH_QUARANTINED = "branch_quarantined", _("Quarantined with a branch")
    BRANCH_QUARANTINE_LIFTED = "branch_quarantine_lifted", _("Quarantine lifted with a branch")
    BRANCH_BANNED = "branch_banned", _("Banned with a branch")
    BRANCH_ACTION_APPLIED = "branch_action_applied", _("Action on a branch applied")
    REPORT_FILED = "report_filed", _("Report filed")
    REPORTS_RESOLVED = "reports_resolved", _("Reports resolved by a moderator")
    REPORTED_CONTENT_REMOVED = "reported_content_removed", _("Reported content removed")
    ROLE_CHANGED = "role_changed", _("Role changed")
    STATUS_CHANGED = "status_changed", _("Status changed by an operator")
    MEMBER_LEFT = "member_left", _("Left the network")


class AuditEntry(models.Model):
    created_at = models.DateTimeField(_("when"), default=clock.now, db_index=True)
    action = models.CharField(_("action"), max_length=48, choices=AuditAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_entries_as_actor",
        verbose_name=_("by"),
    )
    target_member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_entries_as_target",
        verbose_name=_("member concerned"),
    )
    invitation = models.ForeignKey(
        "invitations.Invitation", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("invitation"),
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    # Masked numbers, modes, reasons; the writer (audit_log/actions.py) refuses secrets.
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The admin's log filtered by action, newest first: the few entries of a
            # rare action (reports about a founder) among millions of logins.
            models.Index(fields=["action", "-created_at", "-id"], name="audit_action_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.get_action_display()}"
