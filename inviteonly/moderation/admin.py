"""Admin for sanctions and strikes: read-only, since every decision goes through an
action that writes the audit entry (moderators decide on /moderation/members/<id>/)."""

from __future__ import annotations

from django.contrib import admin

from inviteonly.lib.admin import ReadOnlyAdmin
from inviteonly.moderation.models import Sanction, Strike


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
