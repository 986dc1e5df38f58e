"""Prints every SMS to the terminal, so the whole flow can be clicked through on a laptop.

The number is printed masked; the text is printed whole, since reading the code or
the join link off the terminal is the point. Not for production.
"""

from __future__ import annotations

import secrets
import sys
import threading

from inviteonly.lib.phone_numbers import mask_phone_number
from inviteonly.sms.gateways import SmsReceipt


class ConsoleGateway:
    name = "console"

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def send(self, *, to: str, text: str, reference: str, sender_id: str = "") -> SmsReceipt:
        with self._lock:
            sys.stdout.write(
                f"\n--- SMS to {mask_phone_number(to)} (message {reference}) ---\n{text}\n---\n\n"
            )
            sys.stdout.flush()
        return SmsReceipt(gateway_message_id=f"console-{secrets.token_hex(8)}")
