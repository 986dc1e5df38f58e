"""`inviteonly registration_mode [invite_only|open|closed]`: show or switch the mode."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inviteonly.site_config.actions import do_set_registration_mode
from inviteonly.site_config.models import RegistrationMode, get_site_configuration


class Command(BaseCommand):
    help = "Show the registration mode, or switch it (recorded in the audit log)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("mode", nargs="?", choices=RegistrationMode.values)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["mode"]:
            do_set_registration_mode(actor=None, mode=options["mode"])
        self.stdout.write(get_site_configuration().registration_mode)
