"""Start-up checks of the SMS configuration: the gateway, its keys, the routes and
sender ids, the gateway timeout against the worker's lease. A site that cannot send SMS
refuses to start instead of failing at the first invitation."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from inviteonly.sms.gateways import GATEWAYS, gateways_in_use

HINT = "See docs/operations.md, 'SMS gateways'."
# What carriers accept as a sender: a number (E.164 or a short code) or a name of up
# to 11 letters, digits and spaces.
NUMERIC_SENDER = re.compile(r"\+?[0-9]{3,15}")
ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 ]{1,11}")


def _served(region: str) -> bool:
    """Whether numbers of ``region`` may be invited or join at all (the phone settings)."""
    allowed = settings.PHONE_ALLOWED_REGIONS
    return region not in settings.PHONE_DENIED_REGIONS and (not allowed or region in allowed)


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _gateway_errors(name: str) -> list[str]:
    """What is missing or wrong in ``name``'s configuration."""
    if name == "kannel":
        problems = []
        if not _is_http_url(settings.KANNEL_SENDSMS_URL):
            problems.append("INVITEONLY_KANNEL_SENDSMS_URL must be smsbox's sendsms URL")
        if not (settings.KANNEL_USERNAME and settings.KANNEL_PASSWORD):
            problems.append("INVITEONLY_KANNEL_USERNAME and _PASSWORD must be set")
        if not _is_http_url(settings.SMS_DELIVERY_REPORT_BASE_URL):
            problems.append("INVITEONLY_SMS_DELIVERY_REPORT_BASE_URL must be an http(s) URL")
        return problems
    if name == "smpp":
        host, _, port = settings.SMPP_ADDRESS.rpartition(":")
        problems = []
        if not host or not port.isdigit():
            problems.append("INVITEONLY_SMPP_ADDRESS must be host:port")
        if not (settings.SMPP_SYSTEM_ID and settings.SMPP_PASSWORD):
            problems.append("INVITEONLY_SMPP_SYSTEM_ID and _PASSWORD must be set")
        # SMPP 3.4 fields: system_id 15 octets, password 8; longer ones get cut.
        if len(settings.SMPP_SYSTEM_ID) > 15 or len(settings.SMPP_PASSWORD) > 8:
            problems.append("SMPP allows a system id of 15 and a password of 8 characters")
        return problems
    if name == "twilio":
        problems = []
        if not settings.TWILIO_ACCOUNT_SID.startswith("AC"):
            problems.append("INVITEONLY_TWILIO_ACCOUNT_SID must be an account SID (AC…)")
        if not settings.TWILIO_AUTH_TOKEN:
            problems.append("INVITEONLY_TWILIO_AUTH_TOKEN must be set")
        if not _is_http_url(settings.SMS_DELIVERY_REPORT_BASE_URL):
            problems.append("INVITEONLY_SMS_DELIVERY_REPORT_BASE_URL must be an http(s) URL")
        return problems
    return []


@register()
def check_sms_gateways(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    in_use = gateways_in_use()
    unknown = sorted(in_use - set(GATEWAYS))
    if unknown:
        return [
            Error(
                f"Unknown SMS gateway(s): {', '.join(unknown)}.",
                hint=f"Choose one of: {', '.join(GATEWAYS)}.",
                id="sms.E001",
            )
        ]
    messages: list[CheckMessage] = [
        Error(f"The {name} SMS gateway is misconfigured: {problem}.", hint=HINT, id="sms.E002")
        for name in sorted(in_use)
        for problem in _gateway_errors(name)
    ]
    if settings.SMS_GATEWAY in ("console", "memory") and not settings.DEBUG:
        messages.append(
            Warning(
                f"SMS are not really sent: the {settings.SMS_GATEWAY!r} gateway is in use.",
                hint="Fine on a laptop; in production configure a real gateway.",
                id="sms.W001",
            )
        )
    return messages


@register()
def check_sms_routes(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for region, route in settings.SMS_ROUTES.items():
        if not re.fullmatch(r"[A-Z]{2}", region) or not isinstance(route, dict) or (
            set(route) - {"gateway", "sender_id"}
        ):
            messages.append(
                Error(
                    f"SMS route {region!r} is malformed.",
                    hint='Routes look like {"US": {"gateway": "twilio", "sender_id": '
                    '"+14155550100"}}: an ISO region, then "gateway" and/or "sender_id".',
                    id="sms.E003",
                )
            )
    if messages:
        return messages
    senders = {"default": settings.SMS_SENDER_ID} | {
        region: route.get("sender_id", settings.SMS_SENDER_ID)
        for region, route in settings.SMS_ROUTES.items()
    }
    for where, sender in senders.items():
        if sender and not (
            NUMERIC_SENDER.fullmatch(sender) or ALPHANUMERIC_SENDER.fullmatch(sender)
        ):
            messages.append(
                Error(
                    f"SMS sender id {sender!r} ({where}) is neither a number nor a name of "
                    "at most 11 letters and digits.",
                    hint=HINT,
                    id="sms.E004",
                )
            )
    routes: dict[str, dict[str, str]] = {"default": {}} | settings.SMS_ROUTES
    for where, route in routes.items():
        gateway = route.get("gateway", settings.SMS_GATEWAY)
        if gateway == "twilio" and not route.get("sender_id", settings.SMS_SENDER_ID):
            messages.append(
                Error(
                    f"SMS through Twilio ({where}) need a sender: one of the account's numbers.",
                    hint="Set INVITEONLY_SMS_SENDER_ID or the route's sender_id.",
                    id="sms.E006",
                )
            )
        site_sender = settings.SITE_NAME[:11]
        if (
            gateway == "smpp" and not route.get("sender_id", settings.SMS_SENDER_ID)
            and not ALPHANUMERIC_SENDER.fullmatch(site_sender)
        ):
            # The SMPP gateway's own sender is the site's name (sms/gateways/smpp.py).
            messages.append(
                Error(
                    f"SMS through SMPP ({where}) would go out under the site's name "
                    f"{site_sender!r} (INVITEONLY_SITE_NAME), which is not a name of at "
                    "most 11 letters and digits: carriers refuse it, or it cannot be sent.",
                    hint="Set INVITEONLY_SMS_SENDER_ID or the route's sender_id.",
                    id="sms.E004",
                )
            )
    for region in filter(_served, settings.SMS_NUMERIC_SENDER_REGIONS):
        route = settings.SMS_ROUTES.get(region, {})
        sender = route.get("sender_id", settings.SMS_SENDER_ID)
        gateway = route.get("gateway", settings.SMS_GATEWAY)
        if not sender and gateway in ("kannel", "smpp"):
            # No sender id: the gateway picks one we cannot see (Kannel's global-sender,
            # the site name over SMPP) — a name, as a rule.
            messages.append(
                Warning(
                    f"SMS to {region} through {gateway} go out under the gateway's own "
                    "sender (Kannel's global-sender, or the site name over SMPP), which "
                    "carriers there drop unless it is a number.",
                    hint=f'Name the sender: INVITEONLY_SMS_ROUTES=\'{{"{region}": '
                    '{"sender_id": "+14155550100"}}\' (or INVITEONLY_SMS_SENDER_ID).',
                    id="sms.W003",
                )
            )
        if sender and not NUMERIC_SENDER.fullmatch(sender):
            messages.append(
                Error(
                    f"SMS to {region} would go out under the alphanumeric sender id "
                    f"{sender!r}, which carriers there drop.",
                    hint=f'Add a route with a number: INVITEONLY_SMS_ROUTES=\'{{"{region}": '
                    '{"sender_id": "+14155550100"}}\'.',
                    id="sms.E005",
                )
            )
    return messages


@register()
def check_sms_timeouts(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """A send starts with at least half of the worker's lease left (it is renewed
    otherwise); connecting and waiting for the answer may each take the timeout. Past a
    quarter of the lease, a slow gateway can outlast the claim and another worker sends
    the message again."""
    lease = settings.SMS_SEND_LEASE.total_seconds()
    if lease / 4 >= settings.SMS_GATEWAY_TIMEOUT:
        return []
    return [
        Warning(
            f"INVITEONLY_SMS_GATEWAY_TIMEOUT ({settings.SMS_GATEWAY_TIMEOUT:g} s) is more than "
            f"a quarter of SMS_SEND_LEASE ({lease:g} s): a slow gateway can outlast a "
            "worker's claim, and the message goes out twice.",
            hint="Lower INVITEONLY_SMS_GATEWAY_TIMEOUT or raise "
            "INVITEONLY_SMS_SEND_LEASE_SECONDS.",
            id="sms.W002",
        )
    ]
