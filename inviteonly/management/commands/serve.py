"""`inviteonly serve`: the production server (waitress), migrations, and one SMS
delivery worker in the same process — everything a laptop or a small site needs."""

from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from waitress import serve

from inviteonly.accounts.models import Member
from inviteonly.invitations.actions import do_create_founder_invitation, join_url
from inviteonly.lib.heap import freeze_startup_objects
from inviteonly.management.commands.worker import data_directory
from inviteonly.sms.delivery import run_delivery_worker
from inviteonly.wsgi import application


def listen_where_served(host: str, port: int) -> None:
    """Without INVITEONLY_BASE_URL, the site is where it listens (a laptop): join links,
    and the delivery reports a gateway sends back unless their own address is set."""
    if os.environ.get("INVITEONLY_BASE_URL", "").strip():  # set, and not empty (unset)
        return
    wildcard = host in ("0.0.0.0", "::")  # noqa: S104  (a comparison)
    url_host = "127.0.0.1" if wildcard else host
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, url_host]
    bracketed = f"[{url_host}]" if ":" in url_host else url_host
    settings.BASE_URL = f"http://{bracketed}:{port}"
    if not os.environ.get("INVITEONLY_SMS_DELIVERY_REPORT_BASE_URL", "").strip():
        settings.SMS_DELIVERY_REPORT_BASE_URL = settings.BASE_URL


def where_the_code_goes(*, no_worker: bool) -> str:
    """Only the console gateway prints SMS, and in this terminal only with the worker
    inside; a real gateway sends the founder's code to their phone."""
    if settings.SMS_GATEWAY != "console":
        return f"the confirmation code goes to the phone by SMS ({settings.SMS_GATEWAY})"
    if no_worker:
        return "the confirmation code will be printed by `inviteonly worker` as an SMS"
    return "the confirmation code will be printed here as an SMS"


def unapplied_migrations() -> int:
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


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
        if not 0 < options["port"] < 65536:
            raise CommandError(f"--port must be 1–65535, not {options['port']}.")
        if options["threads"] < 1:
            raise CommandError(f"--threads must be at least 1, not {options['threads']}.")
        listen_where_served(options["host"], options["port"])
        call_command("check", fail_level="ERROR")
        self.stdout.write(data_directory())
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        elif unapplied := unapplied_migrations():
            raise CommandError(
                f"{unapplied} migrations are not applied to the database: run "
                "`inviteonly migrate` first (or start without --no-migrate)."
            )
        if not Member.objects.exists():
            invitation, token = do_create_founder_invitation(bootstrap=True)
            self.stdout.write(
                self.style.SUCCESS("\nNo members yet. Open this link to become the founder:\n")
                + f"  {join_url(token)}\n"
                + f"(valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC; "
                + f"{where_the_code_goes(no_worker=options['no_worker'])})\n"
            )
        freeze_startup_objects()  # again: migrating and the founder link loaded more
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
