"""Admin for sanctions and strikes: read-only, since every decision goes through an
action that writes the audit entry (moderators decide on /moderation/members/<id>/)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from inviteonly.moderation.models import Sanction, Strike


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Sanction)
class SanctionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "member", "kind", "for_spam", "moderator", "ends_at",
                    "upheld", "ended_at")
    list_filter = ("kind", "for_spam", "upheld")
    list_select_related = ("member", "moderator")
    ordering = ("-created_at",)


@admin.register(Strike)
class StrikeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "member", "invitee", "reason")
    list_select_related = ("member", "invitee")
    ordering = ("-created_at",)
