"""Admin for the site configuration: changes go through the audited action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from inviteonly.accounts.models import Member
from inviteonly.lib.admin import AdministratorsChangeAdmin
from inviteonly.lib.web import client_ip
from inviteonly.site_config.actions import do_set_registration_mode
from inviteonly.site_config.models import SiteConfiguration


@admin.register(SiteConfiguration)
class SiteConfigurationAdmin(AdministratorsChangeAdmin):
    list_display = ("__str__", "registration_mode", "updated_at", "updated_by")
    fields = ("registration_mode", "updated_at", "updated_by")
    readonly_fields = ("updated_at", "updated_by")

    def save_model(
        self, request: HttpRequest, obj: SiteConfiguration, form: Any, change: bool
    ) -> None:
        do_set_registration_mode(
            actor=request.user if isinstance(request.user, Member) else None,
            mode=obj.registration_mode,
            ip_address=client_ip(request),
        )
