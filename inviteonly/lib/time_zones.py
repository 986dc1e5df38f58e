"""Time zones: the names a member may choose, and a date shown in the reader's zone.

Times are stored in UTC. Each request shows them in one zone, activated by
``accounts.middleware.time_zone_middleware`` for pages and by the API's bearer check:
the member's own choice (``Member.time_zone``), or ``SITE_TIME_ZONE`` for members who
chose none and for visitors. Templates' ``|date`` converts to it by itself;
``formats.date_format`` does not (it formats a time in its own zone, UTC), so code
that writes a date into a sentence goes through ``shown_date``.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import cache

from django.conf import settings
from django.utils import formats, timezone

# Files of the system's time zone data that are no place: the server's own zone
# (whatever it is), a zone shown as "-00", the rules new POSIX zones take.
NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every zone the system's time zone data knows but ``NOT_PLACES``, sorted: the
    profile page's choices (read once: listing them walks the data's files)."""
    return tuple(sorted(zoneinfo.available_timezones() - NOT_PLACES))


def is_time_zone_name(name: str) -> bool:
    return name in _time_zone_name_set()


@cache
def _time_zone_name_set() -> frozenset[str]:
    return frozenset(time_zone_names())


def effective_time_zone(chosen: str) -> str:
    """A member's choice, or the site's where they chose none (an empty ``chosen``)."""
    return chosen or settings.SITE_TIME_ZONE


def shown_date(moment: datetime) -> str:
    """``moment``'s date (``DATE_FORMAT``, in the language of the request) in the zone
    of the request: 23:30 UTC is already the next day in Moscow."""
    return formats.date_format(timezone.localtime(moment), "DATE_FORMAT")
