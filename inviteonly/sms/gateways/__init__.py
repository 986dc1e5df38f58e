"""SMS gateways: one ``send`` method each, chosen per message by the recipient's country
(``settings.SMS_ROUTES``, else ``settings.SMS_GATEWAY``)."""

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

    def send(self, *, to: str, text: str, reference: str, sender_id: str = "") -> SmsReceipt:
        """Hand one SMS to the gateway. ``to`` is E.164; ``reference`` is our id for
        the message, passed on where the gateway accepts a client reference (and used
        to address delivery reports); ``sender_id`` empty means the gateway's default."""
        ...


GATEWAYS = ("console", "memory", "kannel", "smpp", "twilio")


@dataclass(frozen=True)
class Route:
    gateway: str
    sender_id: str


def gateways_in_use() -> set[str]:
    """The gateways the configuration names: SMS_GATEWAY and every route's."""
    return {settings.SMS_GATEWAY} | {
        route.get("gateway", settings.SMS_GATEWAY)
        for route in settings.SMS_ROUTES.values()
        if isinstance(route, dict)  # a malformed route is the checks' to report
    }


def route_for(region: str) -> Route:
    """The gateway and sender id for a recipient in ``region`` (ISO code)."""
    route = settings.SMS_ROUTES.get(region, {})
    return Route(
        gateway=route.get("gateway", settings.SMS_GATEWAY),
        sender_id=route.get("sender_id", settings.SMS_SENDER_ID),
    )


@cache
def _gateway_named(name: str) -> SmsGateway:
    # Imported here: a site that does not use SMPP or Twilio never imports their clients.
    if name == "console":
        from inviteonly.sms.gateways.console import ConsoleGateway

        return ConsoleGateway()
    if name == "memory":
        from inviteonly.sms.gateways.memory import MemoryGateway

        return MemoryGateway()
    if name == "kannel":
        from inviteonly.sms.gateways.kannel import KannelGateway

        return KannelGateway()
    if name == "smpp":
        from inviteonly.sms.gateways.smpp import SmppGateway

        return SmppGateway()
    if name == "twilio":
        from inviteonly.sms.gateways.twilio import TwilioGateway

        return TwilioGateway()
    raise ValueError(f"unknown SMS gateway {name!r}; choose one of {', '.join(GATEWAYS)}")


def get_gateway(name: str | None = None) -> SmsGateway:
    return _gateway_named(name or settings.SMS_GATEWAY)


def reset_gateways() -> None:
    """Forget the gateways made so far (tests that change their settings)."""
    _gateway_named.cache_clear()
