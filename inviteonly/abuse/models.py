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


class LoginThrottle(models.Model):
    """Consecutive failed logins for one number — registered or not, so the throttle
    itself tells nobody which numbers are members. A success deletes the row; so does
    ``sweep_forgotten_login_failures``, once nobody failed with the number for a while
    (every number ever typed would otherwise keep a row)."""

    phone_blind_index = models.CharField(max_length=64, primary_key=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    blocked_until = models.DateTimeField(null=True, blank=True)
    # Indexed for the sweep.
    last_failure_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("login throttle")
        verbose_name_plural = _("login throttles")

    def __str__(self) -> str:
        return f"{self.consecutive_failures} failures"
