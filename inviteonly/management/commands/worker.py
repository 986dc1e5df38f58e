"""`inviteonly worker`: deliver queued SMS until stopped (SIGTERM or Ctrl-C)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from inviteonly.lib.heap import freeze_startup_objects
from inviteonly.sms.delivery import run_delivery_worker


def data_directory() -> str:
    """Where this process keeps generated keys, the SQLite database and avatars: the
    default is relative to the directory the command started in, so it is said."""
    return f"Data directory: {settings.DATA_DIR} (media: {settings.MEDIA_ROOT})"


class Command(BaseCommand):
    help = "Deliver queued SMS. Run as many as you like on PostgreSQL."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(data_directory())
        self.stdout.flush()
        stop = threading.Event()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signal_number, lambda *_: stop.set())
        freeze_startup_objects()
        run_delivery_worker(stop)
