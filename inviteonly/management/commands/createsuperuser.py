"""`inviteonly createsuperuser` is refused: members join with a phone number and an SMS
code, and admin access comes with a founder account (`inviteonly founder`)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inviteonly.accounts.models import JOIN_BY_PHONE


class Command(BaseCommand):
    help = "Not available: become a founder with `inviteonly founder` instead."

    def add_arguments(self, parser: CommandParser) -> None:
        # Django's own options, so that scripts passing them get this answer too.
        parser.add_argument("--noinput", "--no-input", action="store_true")
        parser.add_argument("--username")
        parser.add_argument("--email")
        parser.add_argument("--database")

    def handle(self, *args: Any, **options: Any) -> None:
        # Django's own command would reach MemberManager.create_superuser and end in
        # a traceback; founders are the site's administrators.
        raise CommandError(f"{JOIN_BY_PHONE} Founders have admin access.")
