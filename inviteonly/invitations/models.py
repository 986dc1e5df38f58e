"""An invitation: a member vouches for the owner of one mobile number."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.models import Member
from inviteonly.lib import clock


class InvitationState(models.TextChoices):
    PENDING = "pending", _("Waiting for the invitee")
    REDEEMED = "redeemed", _("Joined")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked")


class Invitation(models.Model):
    """The join token is never stored, only its digest (``token_digest``). An
    invitation is bound to the invitee's number through its blind index; a founder
    invitation (printed by ``inviteonly founder``) has no inviter and may be bound to
    no number (an empty blind index). Redemption sets ``redeemed_at`` with a
    conditional UPDATE, so one token makes at most one account."""

    inviter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invitations_sent",
        verbose_name=_("inviter"),
    )
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    # Empty for a founder invitation that any number may redeem.
    phone_blind_index = models.CharField(max_length=64, blank=True, db_index=True)
    phone_ciphertext = models.BinaryField(null=True, blank=True, editable=False)
    phone_masked = models.CharField(_("phone number"), max_length=32, blank=True)
    note = models.CharField(_("note"), max_length=settings.INVITATION_NOTE_MAX_LENGTH, blank=True)
    # The member role the invitee gets: founder invitations make founders.
    grants_role = models.CharField(
        _("role it gives"), max_length=16, choices=Member.Role.choices,
        default=Member.Role.MEMBER,
    )
    # Printed by `serve` on an empty site: valid only while the site has no members.
    is_bootstrap = models.BooleanField(default=False)
    created_at = models.DateTimeField(_("sent"), default=clock.now)
    expires_at = models.DateTimeField(_("expires"))
    redeemed_at = models.DateTimeField(_("used"), null=True, blank=True)
    redeemed_by = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invitation_redeemed",
        verbose_name=_("used by"),
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    # Revoked by the inviter, not by a ban: its allowance still comes back, at
    # ``expires_at`` like any unredeemed invitation's (allowance.py), not at once — or
    # revoking and sending again would be a free loop of SMS to one number.
    revoked_by_inviter = models.BooleanField(default=False)
    # Whether sending it spent one of the inviter's allowance (founders and moderators
    # spend none), and when that was given back (expired unredeemed, or revoked by the
    # inviter and past its expiry).
    spent_allowance = models.BooleanField(_("spent an invitation of the allowance"), default=False)
    allowance_refunded_at = models.DateTimeField(_("given back to the allowance"), null=True,
                                                 blank=True)
    # Sent by granting an invitation request: its inviter never sees the number, not
    # even masked, and it is no invitation "to this number" when the inviter invites it
    # directly (either answer would tell them whose request it was).
    from_request = models.BooleanField(default=False)
    sms = models.ForeignKey(
        "sms.OutboundSms", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        indexes = [
            # "My invitations", newest first.
            models.Index(fields=["inviter", "-id"], name="invitation_inviter_recent"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} → {self.phone_masked or '—'}"

    def state_at(self, moment: datetime) -> InvitationState:
        if self.redeemed_at is not None:
            return InvitationState.REDEEMED
        if self.revoked_at is not None:
            return InvitationState.REVOKED
        if self.expires_at <= moment:
            return InvitationState.EXPIRED
        return InvitationState.PENDING

    @property
    def state(self) -> InvitationState:
        return self.state_at(clock.now())


class InviteAllowance(models.Model):
    """A member's allowance, as one timestamp: one invitation is earned per period
    elapsed since ``earned_from``, at most INVITE_ALLOWANCE_MAX_UNUSED. Spending moves
    ``earned_from`` one period later with a conditional UPDATE (allowance.py), a refund
    one period earlier, so concurrent sends can never spend more than was earned. A
    member without a row earns from the day they joined."""

    member = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invite_allowance"
    )
    earned_from = models.DateTimeField()

    class Meta:
        verbose_name = _("invite allowance")
        verbose_name_plural = _("invite allowances")

    def __str__(self) -> str:
        return f"allowance of {self.member_id}"


class InviteRightsGrant(models.Model):
    """A moderator's decision that a member may invite although an automatic rule
    (account age, past sanctions, invitees, trust score) says no. It does not lift an
    invite suspension and does not add to the allowance. In force until ``ends_at`` (if
    set) or until withdrawn."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invite_rights_grants",
        verbose_name=_("member"),
    )
    reason = models.CharField(_("reason"), max_length=settings.MODERATION_REASON_MAX_LENGTH)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("granted by"),
    )
    created_at = models.DateTimeField(_("granted"), default=clock.now)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("withdrawn by"),
    )

    class Meta:
        verbose_name = _("invite rights grant")
        verbose_name_plural = _("invite rights grants")
        indexes = [
            models.Index(fields=["member", "-created_at"], name="invite_grant_member_recent")
        ]

    def __str__(self) -> str:
        return gettext("Invite rights granted to member #%(member)s") % {"member": self.member_id}

    def in_force_at(self, moment: datetime) -> bool:
        return self.withdrawn_at is None and (self.ends_at is None or self.ends_at > moment)
