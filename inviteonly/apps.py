"""The project's own app: templates, static files, translations, start-up checks."""

from __future__ import annotations

from django.apps import AppConfig


class InviteonlyConfig(AppConfig):
    name = "inviteonly"
    verbose_name = "inviteonly"

    def ready(self) -> None:
        from inviteonly import checks  # noqa: F401  (registers the system checks)
        from inviteonly.lib import log_redaction

        log_redaction.install()
