"""Requests for an invitation from people who know no member.

A person without connections leaves their number, a note and a language; no SMS is
sent. Members who may invite see the note, the country, the language and the age of
the request — never the number — and can vouch for it or grant it: granting makes them
the inviter and sends the invitation SMS. The requester follows the request with a
status token and no account.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from inviteonly.lib import clock


class RequestState(models.TextChoices):
    WAITING = "waiting", _("Waiting for a member")
    GRANTED = "granted", _("Invitation sent")
    # Granted, and the link in the invitation SMS has expired since: whether or not
    # the number joined through it, which the requester's page must not tell (who asked
    # for someone else's number would learn that its owner became a member).
    INVITATION_EXPIRED = "invitation_expired", _("Invitation link expired")
    # Granted, and the invitation SMS failed for good (refused, reported undelivered,
    # given up on): the invitation is revoked and the request stays off the list, since
    # its number would fail again; the requester checks it, withdraws and asks again.
    INVITATION_UNDELIVERED = "invitation_undelivered", _("Invitation SMS not delivered")
    EXPIRED = "expired", _("Expired")


class InvitationRequest(models.Model):
    status_token_digest = models.CharField(max_length=64, unique=True, editable=False)
    phone_blind_index = models.CharField(max_length=64, editable=False)
    phone_ciphertext = models.BinaryField(editable=False)
    region = models.CharField(_("country"), max_length=2)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    note = models.TextField(_("note"), max_length=settings.INVITATION_REQUEST_NOTE_MAX_LENGTH)
    # Shown to members until it is granted (and again if that invitation is revoked
    # while the request is open). Every request is listed, whatever its number: see
    # actions.do_request_invitation.
    listed = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("granted by"),
    )
    granted_at = models.DateTimeField(null=True, blank=True)
    invitation = models.OneToOneField(
        "invitations.Invitation", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="request",
    )
    # When that invitation was revoked, by the member who granted it or by their ban
    # (withdrawal.put_requests_back): the request waits again (listed, if it is still
    # open) and its status page tells the requester why the link in their SMS no
    # longer works.
    invitation_withdrawn_at = models.DateTimeField(null=True, blank=True)
    # When the SMS of the invitation granted on it failed for good and that invitation
    # was revoked (actions.settle_undelivered_invitations); ``invitation`` still names it.
    invitation_undelivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("invitation request")
        verbose_name_plural = _("invitation requests")
        indexes = [
            models.Index(fields=["listed", "expires_at"], name="request_listed_open"),
        ]

    def __str__(self) -> str:
        return f"{self.region} {self.created_at:%Y-%m-%d}"

    def state_at(self, moment: datetime) -> RequestState:
        """The state its requester reads (load ``invitation`` with it)."""
        if self.invitation_undelivered_at is not None:
            return RequestState.INVITATION_UNDELIVERED
        if self.granted_at is not None:
            if self.invitation is not None and self.invitation.expires_at <= moment:
                return RequestState.INVITATION_EXPIRED
            return RequestState.GRANTED
        if self.expires_at <= moment:
            return RequestState.EXPIRED
        return RequestState.WAITING


class Vouch(models.Model):
    """A member saying "I would let this person in" without spending an invitation."""

    request = models.ForeignKey(InvitationRequest, on_delete=models.CASCADE, related_name="vouches")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = _("vouch")
        verbose_name_plural = _("vouches")
        constraints = [
            models.UniqueConstraint(fields=["request", "member"], name="one_vouch_per_member"),
        ]

    def __str__(self) -> str:
        return f"vouch {self.member_id} → {self.request_id}"
