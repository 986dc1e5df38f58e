"""`inviteonly sms_report [--days N]`: SMS per country and gateway, with segments and
outcomes — what the operator pays for and where delivery fails."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inviteonly.lib import clock
from inviteonly.sms.queries import delivery_counts

MAX_DAYS = 36_500  # a hundred years: more would overflow the date


class Command(BaseCommand):
    help = "Count SMS per country and gateway: messages, segments, delivered, failed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30, help="Look back this many days.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 < options["days"] <= MAX_DAYS:
            raise CommandError(f"--days must be 1–{MAX_DAYS:,}, not {options['days']}.")
        rows = delivery_counts(since=clock.now() - timedelta(days=options["days"]))
        header = ("country", "gateway", "messages", "segments", "delivered", "sent",
                  "failed", "waiting")
        self.stdout.write("  ".join(f"{name:>9}" for name in header))
        for row in rows:
            values = (row.region, row.gateway, row.messages, row.segments, row.delivered,
                      row.sent, row.failed, row.waiting)
            self.stdout.write("  ".join(f"{value:>9}" for value in values))
        if not rows:
            self.stdout.write(f"No SMS in the last {options['days']} days.")
