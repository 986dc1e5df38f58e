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
    """Switch the registration mode. ``actor`` is None for the operator's command line;
    a member must be an operator (``Member.is_operator``: an administrator — founders
    are — in good standing, as the admin asks)."""
    if actor is not None and not actor.is_operator:
        raise ActionError(
            "forbidden", _("Only administrators can change the registration mode."), status=403
        )
    if mode not in RegistrationMode.values:
        raise ActionError(
            "mode_unknown",
            _("Unknown registration mode. Choose one of: %(modes)s.")
            % {"modes": ", ".join(RegistrationMode.values)},
            field="mode",
        )
    configuration, _created = SiteConfiguration.objects.select_for_update().get_or_create(id=1)
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
