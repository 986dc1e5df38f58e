"""Admin for the SMS outbox: status and counts, never a text or a full number (counts per
country and gateway: `inviteonly sms_report`). Read-only: a row is what was sent, and
deleting one would take a message out of the worker's hands and the records unaudited."""

from __future__ import annotations

from django.contrib import admin

from inviteonly.lib.admin import ReadOnlyAdmin
from inviteonly.sms.models import OutboundSms


@admin.register(OutboundSms)
class OutboundSmsAdmin(ReadOnlyAdmin):
    list_display = ("id", "purpose", "recipient_masked", "region", "status", "segments",
                    "attempts", "created_at", "sent_at")
    list_filter = ("status", "purpose", "region", "gateway")
    fields = ("purpose", "recipient_masked", "region", "encoding", "segments", "status",
              "attempts", "created_at", "next_attempt_at", "sent_at", "delivered_at",
              "gateway", "sender_id", "gateway_message_id", "last_error")
    readonly_fields = fields
    ordering = ("-id",)
