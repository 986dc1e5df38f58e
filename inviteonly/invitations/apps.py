"""The invitations app; registers its start-up checks."""

from __future__ import annotations

from django.apps import AppConfig


class InvitationsConfig(AppConfig):
    name = "inviteonly.invitations"

    def ready(self) -> None:
        from inviteonly.invitations import checks  # noqa: F401  (registers the checks)
