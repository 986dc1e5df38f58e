"""Admin for invitations (read-only: invitations are written by members' actions)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from inviteonly.invitations.models import Invitation


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("id", "inviter", "phone_masked", "state", "created_at", "expires_at")
    list_select_related = ("inviter",)
    fields = ("inviter", "phone_masked", "note", "grants_role", "created_at", "expires_at",
              "redeemed_at", "redeemed_by", "revoked_at")
    readonly_fields = fields
    ordering = ("-created_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
