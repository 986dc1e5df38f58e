"""Start-up checks: a misconfigured site refuses to start instead of failing at the
first SMS (`inviteonly check`, and every `serve`/`worker` start)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from inviteonly.lib import crypto
from inviteonly.lib.phone_numbers import NON_GEOGRAPHIC
from inviteonly.sms import checks as sms_checks  # noqa: F401  (registers the SMS checks)


@register()
def check_keys(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    try:
        crypto.check_keys()
    except crypto.KeyConfigurationError as error:
        return [Error(str(error), hint="See docs/operations.md, 'Keys'.", id="inviteonly.E001")]
    return []


@register()
def check_base_url(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if not settings.BASE_URL.startswith(("http://", "https://")):
        return [
            Error(
                "INVITEONLY_BASE_URL must start with http:// or https://.",
                hint="Join links in invitation SMS are built from it.",
                id="inviteonly.E002",
            )
        ]
    return []


@register()
def check_keys_from_file(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Some keys set in the environment and others not: a production set-up that
    forgot one, which this host then made up alone."""
    from_file = settings.KEYS_FROM_FILE
    if not from_file or len(from_file) == len(settings.KEY_NAMES):
        return []
    return [
        Warning(
            f"{', '.join(from_file)} {'is' if len(from_file) == 1 else 'are'} not set in the "
            f"environment: read from {settings.KEYS_FILE}, which only this host has.",
            hint="Set every key in the environment of every process; another host would "
            "generate keys of its own. See docs/operations.md, 'Keys'.",
            id="inviteonly.W001",
        )
    ]


@register(deploy=True)
def check_keys_from_file_deploy(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if not settings.KEYS_FROM_FILE:
        return []
    return [
        Error(
            f"{', '.join(settings.KEYS_FROM_FILE)} came from {settings.KEYS_FILE}, not from "
            "the environment.",
            hint="Production sets all four keys in the environment (docs/operations.md, "
            "'Keys'); keys.json is for a laptop.",
            id="inviteonly.E003",
        )
    ]


@register()
def check_regions(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """A region code phonenumbers does not know would refuse every number (an allow
    list), nothing (a deny list), or route no SMS (a route)."""
    lists = {
        "INVITEONLY_PHONE_DEFAULT_REGION": [settings.PHONE_DEFAULT_REGION],
        "INVITEONLY_PHONE_ALLOWED_REGIONS": settings.PHONE_ALLOWED_REGIONS,
        "INVITEONLY_PHONE_DENIED_REGIONS": settings.PHONE_DENIED_REGIONS,
        # A route for no country would never be taken (a malformed key is sms.E003).
        "INVITEONLY_SMS_ROUTES": [
            region for region in settings.SMS_ROUTES if re.fullmatch(r"[A-Z]{2}", region)
        ],
    }
    errors: list[CheckMessage] = []
    for variable, regions in lists.items():
        known = phonenumbers.SUPPORTED_REGIONS | (
            set() if variable == "INVITEONLY_PHONE_DEFAULT_REGION" else {NON_GEOGRAPHIC}
        )
        unknown = [region for region in regions if region not in known]
        if unknown:
            errors.append(
                Error(
                    f"{variable} holds unknown region codes: {', '.join(map(repr, unknown))}.",
                    hint="Use two-letter ISO 3166 codes such as RU, BY, KZ, US, GB.",
                    id="inviteonly.E004",
                )
            )
    return errors


@register()
def check_redis(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """With REDIS_URL set, every rate-limited request counts in Redis and answers 500
    while it is unreachable: say so at start rather than at the first login."""
    if not settings.REDIS_URL:
        return []
    import redis

    try:
        # The host alone: anything else in the URL may hold (part of) the password.
        where = urlsplit(settings.REDIS_URL).hostname or "a socket"
    except ValueError:
        where = "REDIS_URL"
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        client.ping()
        version = str(client.info("server").get("redis_version", ""))
        client.close()
    except (redis.RedisError, ValueError) as error:
        return [
            Warning(
                f"Redis ({where}) does not answer: {type(error).__name__}. Every "
                "rate-limited request (codes, logins, invitations, posts) will fail with a "
                "500 until it does.",
                hint="Start Redis or fix REDIS_URL; unset, the counters live in the database.",
                id="inviteonly.W002",
            )
        ]
    major = version.partition(".")[0]
    if major.isdigit() and int(major) < 7:
        # A cooldown's counter sets its time to live with EXPIRE NX (abuse/limiter.py):
        # an older Redis would answer every code request with an error, so it stops the
        # start, unlike a Redis that does not answer yet (W002).
        return [
            Error(
                f"Redis ({where}) is version {version}; the rate limiter needs 7.0 or later "
                "(every request for a code would fail with a 500).",
                hint="Upgrade Redis, or unset REDIS_URL: the counters then live in the database.",
                id="inviteonly.E005",
            )
        ]
    return []
