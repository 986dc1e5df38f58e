"""Admin for the audit log: read-only, append-only."""

from __future__ import annotations

from django.contrib import admin

from inviteonly.audit_log.models import AuditEntry
from inviteonly.lib.admin import ReadOnlyAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "actor", "target_member", "ip_address")
    list_filter = ("action",)
    list_select_related = ("actor", "target_member")
    fields = ("created_at", "action", "actor", "target_member", "invitation", "ip_address",
              "details")
    readonly_fields = fields
