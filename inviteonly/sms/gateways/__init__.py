"""SMS gateways: one ``send`` method each, chosen by ``settings.SMS_GATEWAY``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings


@dataclass(frozen=True)
class SmsReceipt:
    gateway_message_id: str


class GatewayError(Exception):
    """The gateway did not take the message. ``retryable`` says whether trying again
    later can help (a timeout, a busy gateway) or not (a number it refuses)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class SmsGateway(Protocol):
    name: str

    def send(self, *, to: str, text: str, reference: str) -> SmsReceipt:
        """Hand one SMS to the gateway. ``to`` is E.164; ``reference`` is our id for
        the message, passed on where the gateway accepts a client reference."""
        ...


GATEWAYS = ("console", "memory")


@cache
def _gateway_named(name: str) -> SmsGateway:
    if name == "console":
        from inviteonly.sms.gateways.console import ConsoleGateway

        return ConsoleGateway()
    if name == "memory":
        from inviteonly.sms.gateways.memory import MemoryGateway

        return MemoryGateway()
    raise ValueError(f"unknown SMS gateway {name!r}; choose one of {', '.join(GATEWAYS)}")


def get_gateway() -> SmsGateway:
    return _gateway_named(settings.SMS_GATEWAY)
