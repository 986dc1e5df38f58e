"""Start-up checks: a misconfigured site refuses to start instead of failing at the
first SMS (`inviteonly check`, and every `serve`/`worker` start)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from inviteonly.lib import crypto
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
