"""Start-up checks of the invite-rights settings: a threshold that makes no sense
stops the site at start instead of silently letting everyone (or no one) invite."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.utils.module_loading import import_string

# Setting → the smallest value that makes sense.
_MINIMUMS = {
    "INVITE_MIN_ACCOUNT_AGE_DAYS": 0,
    "INVITE_SANCTION_COOLDOWN_DAYS": 0,
    "INVITE_INVITEES_MIN_COUNT": 1,
    "INVITE_ALLOWANCE_PERIOD_DAYS": 1,
    "INVITE_ALLOWANCE_MAX_UNUSED": 1,
    "INVITE_STRIKES_TO_SUSPEND": 1,
    "INVITE_STRIKE_WINDOW_DAYS": 1,
    "INVITE_STRIKE_SUSPENSION_DAYS": 1,
}

# The longest span an allowance may be saved up over (100 years, as settings.py caps
# every duration): spending computes the oldest moment that still counts, and a
# moment before year 1 cannot be computed.
MAX_SAVED_UP_DAYS = 36_500


@register()
def check_invite_rights_settings(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = [
        Error(
            f"{name}={getattr(settings, name)} must be at least {minimum}.",
            hint=f"Set INVITEONLY_{name} (see the README, 'Configuration').",
            id="invitations.E001",
        )
        for name, minimum in _MINIMUMS.items()
        if getattr(settings, name) < minimum
    ]
    saved_up_days = settings.INVITE_ALLOWANCE_MAX_UNUSED * settings.INVITE_ALLOWANCE_PERIOD_DAYS
    if saved_up_days > MAX_SAVED_UP_DAYS:
        errors.append(
            Error(
                f"INVITE_ALLOWANCE_MAX_UNUSED × INVITE_ALLOWANCE_PERIOD_DAYS is "
                f"{saved_up_days:,} days; it must be at most {MAX_SAVED_UP_DAYS:,}.",
                hint="Spending reads back that far: past 100 years the date overflows and "
                "every invitation fails. Lower INVITEONLY_INVITE_ALLOWANCE_MAX_UNUSED.",
                id="invitations.E004",
            )
        )
    if not 0 <= settings.INVITE_INVITEES_MAX_BAD_SHARE <= 1:
        errors.append(
            Error(
                "INVITE_INVITEES_MAX_BAD_SHARE must be a share between 0 and 1.",
                hint="0.25 stops members a quarter of whose invitees are banned or "
                "quarantined.",
                id="invitations.E002",
            )
        )
    provider = settings.INVITE_TRUST_SCORE_PROVIDER
    if provider:
        try:
            import_string(provider)
        except ImportError as error:
            errors.append(
                Error(
                    f"INVITE_TRUST_SCORE_PROVIDER={provider!r} cannot be imported: {error}",
                    hint="A dotted path to a function member -> float | None, or empty.",
                    id="invitations.E003",
                )
            )
    return errors
