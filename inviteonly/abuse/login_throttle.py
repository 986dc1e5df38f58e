"""Per-number login throttling: growing waits after failures, recovery after too many.

Counted per number (its blind index), not per address: spreading a guessing run over
many addresses does not help. Kept for numbers without an account too, so waits and
lockouts look the same for members and strangers.

An attempt that brings a valid device token for the number (accounts/device_tokens.py)
is counted per token instead, with the same waits and lockout: a stranger who fails
with a member's number locks it for clients without a token, not for the member's
own browser and apps. A guesser has no valid token, so is counted as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from inviteonly.abuse.actions import describe_wait
from inviteonly.abuse.models import DeviceLoginThrottle, FailedLogins, LoginThrottle
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.lib.queries import execute_later


def wait_after(failures: int) -> timedelta | None:
    """How long the next attempt must wait after ``failures`` failures in a row."""
    beyond = failures - settings.LOGIN_THROTTLE_FREE_FAILURES
    if beyond <= 0:
        return None
    # Doubling, capped; the exponent is capped too so it never overflows.
    wait = settings.LOGIN_THROTTLE_FIRST_WAIT * 2 ** min(beyond - 1, 32)
    return min(wait, settings.LOGIN_THROTTLE_LONGEST_WAIT)


@dataclass(frozen=True)
class LoginAttempt:
    """What ``begin_login_attempt`` counted: the number's row, or the device token's
    (``device_key``) when the attempt brought a valid one."""

    phone_blind_index: str
    device_key: str | None = None


def begin_login_attempt(phone_blind_index: str, *, device_key: str | None = None) -> LoginAttempt:
    """Refuse if this attempt must wait or the number must recover first; otherwise
    count it as a failure *before* the password is checked, under the row's lock, so
    concurrent guesses cannot all slip past the count. ``login_succeeded`` then
    resets it.

    ``device_key``: the attempt brought a valid device token for the number
    (accounts.device_tokens.device_throttle_key). It is then counted on the token's
    own row, with the same waits, and the number's waits and lockout do not apply —
    unless the token itself reached the lockout: then it is counted as no token."""
    now = clock.now()
    with transaction.atomic():
        if device_key is not None:
            device, _created = DeviceLoginThrottle.objects.select_for_update().get_or_create(
                device_key=device_key,
                defaults={"phone_blind_index": phone_blind_index, "last_failure_at": now},
            )
            if device.consecutive_failures < settings.LOGIN_MAX_CONSECUTIVE_FAILURES:
                _count_failure(device, now=now)
                return LoginAttempt(phone_blind_index, device_key)
        throttle, _created = LoginThrottle.objects.select_for_update().get_or_create(
            phone_blind_index=phone_blind_index, defaults={"last_failure_at": now}
        )
        if throttle.consecutive_failures >= settings.LOGIN_MAX_CONSECUTIVE_FAILURES:
            raise ActionError(
                "login_locked",
                _("There were too many failed logins with this number. Recover your "
                  "password by SMS code to log in again."),
                status=403,
            )
        _count_failure(throttle, now=now)
        return LoginAttempt(phone_blind_index)


def _count_failure(throttle: FailedLogins, *, now: datetime) -> None:
    """Refuse while ``throttle`` (locked by the caller) makes attempts wait, else count
    one more failure and set the wait it earns."""
    if throttle.blocked_until is not None and throttle.blocked_until > now:
        seconds = math.ceil((throttle.blocked_until - now).total_seconds())
        raise ActionError(
            "login_throttled",
            _("Too many failed logins with this number. Try again in %(wait)s, or "
              "recover your password.") % {"wait": describe_wait(seconds)},
            status=429,
            retry_after=seconds,
        )
    throttle.consecutive_failures += 1
    wait = wait_after(throttle.consecutive_failures)
    throttle.blocked_until = now + wait if wait is not None else None
    throttle.last_failure_at = now
    throttle.save(update_fields=["consecutive_failures", "blocked_until", "last_failure_at"])


def login_succeeded(attempt: LoginAttempt) -> None:
    """The password was right: forget the failures of the row the attempt counted on
    (the device token's only, when it brought one: the number's stay for others)."""
    if attempt.device_key is not None:
        DeviceLoginThrottle.objects.filter(device_key=attempt.device_key).delete()
    else:
        reset_login_failures(attempt.phone_blind_index)


def reset_login_failures(phone_blind_index: str) -> None:
    """The number's own failures (its device tokens' stay)."""
    LoginThrottle.objects.filter(phone_blind_index=phone_blind_index).delete()


def reset_login_failures_of_number(phone_blind_index: str) -> None:
    """After a proof of the number by SMS code (a recovery, a move to it or off it):
    the number's failures and those of every device token issued for it. The tokens'
    rows first: ``begin_login_attempt`` locks a token's row before the number's, and
    the other order deadlocks with it on PostgreSQL."""
    DeviceLoginThrottle.objects.filter(phone_blind_index=phone_blind_index).delete()
    reset_login_failures(phone_blind_index)


def sweep_forgotten_login_failures() -> int:
    """Delete the failures of numbers and device tokens nobody failed to log in with
    for ``LOGIN_FAILURES_FORGOTTEN_AFTER`` — but not a lockout, which only a recovery
    (or a join, for a number) ends, or for a token its expiry."""
    forgotten = Q(
        last_failure_at__lt=clock.now() - settings.LOGIN_FAILURES_FORGOTTEN_AFTER,
        consecutive_failures__lt=settings.LOGIN_MAX_CONSECUTIVE_FAILURES,
    )
    deleted, _by_model = LoginThrottle.objects.filter(forgotten).delete()
    # A device token's lockout lasts no longer than the token: past its lifetime since
    # the last failure, the token is past it too.
    expired = Q(last_failure_at__lt=clock.now() - settings.LOGIN_DEVICE_TOKEN_LIFETIME)
    deleted_devices, _by_model = DeviceLoginThrottle.objects.filter(forgotten | expired).delete()
    return deleted + deleted_devices


def reset_login_failures_as_joined(phone_blind_index: str) -> None:
    """A join proves the number by its code, as a recovery does: failures typed for it
    before it had an account (by anyone) do not lock its new member out. With the
    join's last writes (``written_together``: on PostgreSQL, no statement of its own)."""
    table = connection.ops.quote_name(LoginThrottle._meta.db_table)
    execute_later(
        f"DELETE FROM {table} WHERE phone_blind_index = %s",  # noqa: S608
        [phone_blind_index],
    )
