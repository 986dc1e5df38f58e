"""Admin for invitations and invite-rights grants (read-only: both are written by
actions that audit them)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from inviteonly.invitations.models import Invitation, InviteRightsGrant
from inviteonly.lib.admin import ReadOnlyAdmin


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ("id", "inviter", "phone_masked", "shown_state", "created_at", "expires_at")
    list_select_related = ("inviter",)
    fields = ("inviter", "phone_masked", "note", "grants_role", "created_at", "expires_at",
              "redeemed_at", "redeemed_by", "revoked_at", "spent_allowance",
              "allowance_refunded_at")
    readonly_fields = fields
    ordering = ("-created_at",)

    @admin.display(description=_("state"))
    def shown_state(self, invitation: Invitation) -> str:
        return str(invitation.state.label)


@admin.register(InviteRightsGrant)
class InviteRightsGrantAdmin(ReadOnlyAdmin):
    """Read-only: moderators grant and withdraw on /moderation/members/<id>/ (audited)."""

    list_display = ("created_at", "member", "granted_by", "ends_at", "withdrawn_at")
    list_select_related = ("member", "granted_by")
    fields = ("member", "reason", "granted_by", "created_at", "ends_at", "withdrawn_at",
              "withdrawn_by")
    readonly_fields = fields
    ordering = ("-created_at",)
