"""Rate-limit counters kept in the database (when Redis is not configured)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class RateLimitCounter(models.Model):
    """One fixed window of one rule for one key. ``bucket`` names all three (the key
    as a digest, never a number in plaintext); rows past ``expires_at`` are dead and
    swept by ``sweep_expired_counters``."""

    bucket = models.CharField(max_length=128, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("rate-limit counter")
        verbose_name_plural = _("rate-limit counters")

    def __str__(self) -> str:
        return f"{self.bucket} = {self.count}"


class FailedLogins(models.Model):
    """What a login throttle counts (abuse/login_throttle.py): failures in a row, the
    wait they earned, and the last one, which the sweep goes by."""

    consecutive_failures = models.PositiveIntegerField(default=0)
    blocked_until = models.DateTimeField(null=True, blank=True)
    # Indexed for the sweep.
    last_failure_at = models.DateTimeField(db_index=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.consecutive_failures} failures"


class LoginThrottle(FailedLogins):
    """Consecutive failed logins for one number — registered or not, so the throttle
    itself tells nobody which numbers are members. A success deletes the row; so does
    ``sweep_forgotten_login_failures``, once nobody failed with the number for a while
    (every number ever typed would otherwise keep a row)."""

    phone_blind_index = models.CharField(max_length=64, primary_key=True)

    class Meta:
        verbose_name = _("login throttle")
        verbose_name_plural = _("login throttles")


class DeviceLoginThrottle(FailedLogins):
    """Consecutive failed logins through one device token (accounts/device_tokens.py):
    a login that brings a valid token for the number typed is counted here, not on the
    number's ``LoginThrottle``, so strangers failing with a member's number do not lock
    out the member's own devices. Keyed by a digest of the token's nonce (never the
    token); ``phone_blind_index`` is the number it was issued for, whose recovery
    deletes its rows. A success through the token deletes its row; the sweep deletes
    it like a number's."""

    device_key = models.CharField(max_length=64, primary_key=True)
    # Indexed for the recovery's and the new number's reset.
    phone_blind_index = models.CharField(max_length=64, db_index=True)

    class Meta:
        verbose_name = _("device login throttle")
        verbose_name_plural = _("device login throttles")
