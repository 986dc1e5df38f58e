"""`inviteonly serve`: the production server (waitress), migrations, and one SMS
delivery worker in the same process — everything a laptop or a small site needs."""

from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from waitress import serve

from inviteonly.accounts.models import Member
from inviteonly.invitations.actions import do_create_founder_invitation, join_url
from inviteonly.sms.delivery import run_delivery_worker
from inviteonly.wsgi import application


class Command(BaseCommand):
    help = "Run the site with waitress and an SMS delivery worker."
    requires_system_checks: list[str] = []  # run below, after the database exists

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--threads", type=int, default=8, help="Request threads (default: %(default)s)."
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Do not deliver SMS in this process (run `inviteonly worker` instead).",
        )
        parser.add_argument(
            "--no-migrate", action="store_true", help="Do not apply database migrations."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if "INVITEONLY_BASE_URL" not in os.environ:
            # On a laptop the site is where it listens: links must point there.
            wildcard = options["host"] in ("0.0.0.0", "::")  # noqa: S104  (a comparison)
            host = "127.0.0.1" if wildcard else options["host"]
            settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, host]
            url_host = f"[{host}]" if ":" in host else host
            settings.BASE_URL = f"http://{url_host}:{options['port']}"
        call_command("check", fail_level="ERROR")
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        if not Member.objects.exists():
            invitation, token = do_create_founder_invitation(bootstrap=True)
            self.stdout.write(
                self.style.SUCCESS("\nNo members yet. Open this link to become the founder:\n")
                + f"  {join_url(token)}\n"
                + f"(valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC; "
                "the confirmation code will be printed here as an SMS)\n"
            )
        stop = threading.Event()
        worker = None
        if not options["no_worker"]:
            worker = threading.Thread(
                target=run_delivery_worker, args=(stop,), name="sms-delivery", daemon=True
            )
            worker.start()
        self.stdout.write(
            f"inviteonly at {settings.BASE_URL} (listening on {options['host']}:{options['port']},"
            f" SMS gateway: {settings.SMS_GATEWAY})"
        )
        try:
            serve(
                application,
                host=options["host"],
                port=options["port"],
                threads=options["threads"],
                max_request_body_size=settings.REQUEST_BODY_MAX_BYTES,
                ident="inviteonly",
            )
        finally:
            stop.set()
            if worker is not None:
                worker.join(timeout=5)
