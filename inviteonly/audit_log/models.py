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
    RECOVERY_REQUESTED = "recovery_requested", _("Password recovery requested")
    PASSWORD_RECOVERED = "password_recovered", _("Password reset via recovery")
    REGISTRATION_MODE_CHANGED = "registration_mode_changed", _("Registration mode changed")
    RATE_LIMITED = "rate_limited", _("Refused by a rate limit")
    BRANCH_QUARANTINED = "branch_quarantined", _("Quarantined with a branch")
    BRANCH_QUARANTINE_LIFTED = "branch_quarantine_lifted", _("Quarantine lifted with a branch")
    BRANCH_BANNED = "branch_banned", _("Banned with a branch")
    BRANCH_ACTION_APPLIED = "branch_action_applied", _("Action on a branch applied")


class AuditEntry(models.Model):
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    action = models.CharField(max_length=48, choices=AuditAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_entries_as_actor",
    )
    target_member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_entries_as_target",
    )
    invitation = models.ForeignKey(
        "invitations.Invitation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # Masked numbers, modes, reasons; the writer (audit_log/actions.py) refuses secrets.
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action}"
