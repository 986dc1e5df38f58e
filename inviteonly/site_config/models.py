"""The single row of run-time site configuration."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from inviteonly.lib.queries import unique_or_none


class RegistrationMode(models.TextChoices):
    INVITE_ONLY = "invite_only", _("Invitation only")
    OPEN = "open", _("Open to anyone with a mobile number")
    CLOSED = "closed", _("Closed")


class SiteConfiguration(models.Model):
    """Exactly one row (id 1); read with ``get_site_configuration``."""

    registration_mode = models.CharField(
        _("registration mode"), max_length=16, choices=RegistrationMode.choices,
        default=RegistrationMode.INVITE_ONLY,
    )
    updated_at = models.DateTimeField(_("changed"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("changed by"),
    )

    class Meta:
        verbose_name = _("site configuration")
        verbose_name_plural = _("site configuration")

    def __str__(self) -> str:
        return str(_("Site configuration"))


# The registration mode as one more column of a read that needs it beside its own rows
# (fetch_models' ``extra``): the code check of a join reads it with the verification,
# in the same statement. NULL while the row is missing: the default then holds.
REGISTRATION_MODE_COLUMN = (
    f"(SELECT registration_mode FROM {SiteConfiguration._meta.db_table} WHERE id = 1) "  # noqa: S608
    "AS registration_mode"
)


def get_site_configuration() -> SiteConfiguration:
    # Migration 0002 creates the row; reading never writes (a flushed database reads
    # as the defaults until the next change).
    return unique_or_none(SiteConfiguration.objects.filter(id=1)) or SiteConfiguration(id=1)
