"""The invitations app; registers its start-up checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InvitationsConfig(AppConfig):
    name = "inviteonly.invitations"
    verbose_name = _("Invitations")

    def ready(self) -> None:
        from inviteonly.invitations import checks  # noqa: F401  (registers the checks)
