"""Changing the run-time site configuration."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.models import Member
from inviteonly.audit_log.actions import record_audit_entry
from inviteonly.audit_log.models import AuditAction
from inviteonly.lib.errors import ActionError
from inviteonly.site_config.models import RegistrationMode, SiteConfiguration


@transaction.atomic
def do_set_registration_mode(
    *, actor: Member | None, mode: str, ip_address: str | None = None
) -> SiteConfiguration:
    if mode not in RegistrationMode.values:
        raise ActionError(
            "mode_unknown",
            _("Unknown registration mode. Choose one of: %(modes)s.")
            % {"modes": ", ".join(RegistrationMode.values)},
            field="mode",
        )
    SiteConfiguration.objects.get_or_create(id=1)
    configuration = SiteConfiguration.objects.select_for_update().get(id=1)
    previous = configuration.registration_mode
    configuration.registration_mode = mode
    configuration.updated_by = actor
    configuration.save(update_fields=["registration_mode", "updated_by", "updated_at"])
    record_audit_entry(
        AuditAction.REGISTRATION_MODE_CHANGED,
        actor=actor,
        ip_address=ip_address,
        mode=mode,
        previous_mode=previous,
    )
    return configuration
