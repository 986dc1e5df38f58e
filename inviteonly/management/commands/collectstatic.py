"""`inviteonly collectstatic`: Django's, with a word on INVITEONLY_STATIC_ROOT first —
without it Django stops with a traceback about STATIC_ROOT."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.staticfiles.management.commands import collectstatic
from django.core.management.base import CommandError


class Command(collectstatic.Command):
    def handle(self, **options: Any) -> str | None:
        if not settings.STATIC_ROOT:
            raise CommandError(
                "Set INVITEONLY_STATIC_ROOT to the directory a front proxy serves static "
                "files from. Without a proxy nothing needs collecting: the site serves its "
                "static files itself."
            )
        return super().handle(**options)
