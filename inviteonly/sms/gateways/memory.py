"""Keeps every SMS in memory for tests and benchmarks (the ``sms_outbox`` fixture)."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from inviteonly.sms.gateways import GatewayError, SmsReceipt


@dataclass(frozen=True)
class DeliveredSms:
    to: str
    text: str
    reference: str
    gateway_message_id: str
    sender_id: str = ""


class MemoryGateway:
    name = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self.messages: list[DeliveredSms] = []
        # Numbers the gateway refuses for good, and whether it is "down" (retryable).
        self.refused_numbers: set[str] = set()
        self.unavailable = False

    def send(self, *, to: str, text: str, reference: str, sender_id: str = "") -> SmsReceipt:
        if self.unavailable:
            raise GatewayError("gateway unavailable", retryable=True)
        if to in self.refused_numbers:
            raise GatewayError("number refused by the gateway", retryable=False)
        with self._lock:
            receipt = SmsReceipt(gateway_message_id=f"memory-{next(self._counter)}")
            self.messages.append(
                DeliveredSms(
                    to=to, text=text, reference=reference,
                    gateway_message_id=receipt.gateway_message_id, sender_id=sender_id,
                )
            )
        return receipt

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
        self.refused_numbers.clear()
        self.unavailable = False
