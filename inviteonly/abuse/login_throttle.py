"""Per-number login throttling: growing waits after failures, recovery after too many.

Counted per number (its blind index), not per address: spreading a guessing run over
many addresses does not help. Kept for numbers without an account too, so waits and
lockouts look the same for members and strangers.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext as _

from inviteonly.abuse.actions import describe_wait
from inviteonly.abuse.models import LoginThrottle
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


def begin_login_attempt(phone_blind_index: str) -> None:
    """Refuse if this number must wait or must recover first; otherwise count this
    attempt as a failure *before* the password is checked, under the row's lock, so
    concurrent guesses cannot all slip past the count. A success then resets it."""
    now = clock.now()
    with transaction.atomic():
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


def reset_login_failures(phone_blind_index: str) -> None:
    """After a successful login or a password recovery."""
    LoginThrottle.objects.filter(phone_blind_index=phone_blind_index).delete()


def sweep_forgotten_login_failures() -> int:
    """Delete the failures of numbers nobody failed to log in with for
    ``LOGIN_FAILURES_FORGOTTEN_AFTER`` — but not a lockout, which only a recovery (or a
    join) ends."""
    deleted, _by_model = LoginThrottle.objects.filter(
        last_failure_at__lt=clock.now() - settings.LOGIN_FAILURES_FORGOTTEN_AFTER,
        consecutive_failures__lt=settings.LOGIN_MAX_CONSECUTIVE_FAILURES,
    ).delete()
    return deleted


def reset_login_failures_as_joined(phone_blind_index: str) -> None:
    """A join proves the number by its code, as a recovery does: failures typed for it
    before it had an account (by anyone) do not lock its new member out. With the
    join's last writes (``written_together``: on PostgreSQL, no statement of its own)."""
    table = connection.ops.quote_name(LoginThrottle._meta.db_table)
    execute_later(
        f"DELETE FROM {table} WHERE phone_blind_index = %s",  # noqa: S608
        [phone_blind_index],
    )
