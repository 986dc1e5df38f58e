"""The audit log app; its name as the admin shows it."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditLogConfig(AppConfig):
    name = "inviteonly.audit_log"
    verbose_name = _("Audit log")
