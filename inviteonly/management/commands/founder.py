"""`inviteonly founder`: print a link that makes whoever redeems it a founder."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inviteonly.invitations.actions import do_create_founder_invitation, join_url
from inviteonly.lib.errors import ActionError


class Command(BaseCommand):
    help = "Create a founder invitation and print its join link (shown only once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--phone",
            help="Bind the invitation to this mobile number (otherwise any number may redeem it).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        phone = options.get("phone")
        if phone is not None and not phone.strip():
            # `--phone "$FOUNDER_PHONE"` with the variable unset: not a link for anyone.
            raise CommandError(
                "--phone is empty: give the founder's mobile number, or leave --phone out "
                "for a link any number may redeem."
            )
        try:
            invitation, token = do_create_founder_invitation(phone=phone)
        except ActionError as error:
            raise CommandError(str(error.message)) from error
        self.stdout.write(
            f"Founder invitation (valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n"
            f"  {join_url(token)}"
        )
