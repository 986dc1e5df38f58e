"""`inviteonly worker`: deliver queued SMS until stopped (SIGTERM or Ctrl-C)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from inviteonly.sms.delivery import run_delivery_worker


class Command(BaseCommand):
    help = "Deliver queued SMS. Run as many as you like on PostgreSQL."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signal_number, lambda *_: stop.set())
        run_delivery_worker(stop)
