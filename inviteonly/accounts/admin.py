"""Admin for members: numbers only masked, passwords never editable here, and no
member added here (members join with a verified number; `inviteonly founder` prints a
founder's link)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from inviteonly.accounts.models import Member


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("display_name", "phone_masked", "role", "status", "joined_at", "invited_by")
    list_filter = ("role", "status", "language")
    search_fields = ("display_name",)
    list_select_related = ("invited_by",)
    fields = (
        "display_name", "phone_masked", "language", "role", "status", "is_staff",
        "is_superuser", "invited_by", "joined_at", "last_login",
    )
    readonly_fields = ("phone_masked", "invited_by", "joined_at", "last_login")
    ordering = ("-joined_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
