"""The time zone a page is shown in: the member's own, or the site's."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from inviteonly.accounts.models import Member
from inviteonly.api import is_api_request
from inviteonly.lib.time_zones import effective_time_zone


def time_zone_middleware(
    get_response: Callable[[HttpRequest], HttpResponseBase],
) -> Callable[[HttpRequest], HttpResponseBase]:
    """After AuthenticationMiddleware. A page reads its member anyway (``base.html``
    asks who is logged in), so taking their zone from the row costs no query. The API
    leaves ``request.user`` alone (a bearer's member is read with its session: the
    bearer check activates their zone) and starts in the site's, as avatars do."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        # Avatars (MEDIA_URL, with the script's prefix as request.path has it): files,
        # no times, fetched a page's worth at a time with the session's cookie —
        # reading the member for each would cost two queries each.
        if is_api_request(request) or request.path.startswith(settings.MEDIA_URL):
            zone = settings.SITE_TIME_ZONE
        else:
            user = request.user
            zone = effective_time_zone(user.time_zone if isinstance(user, Member) else "")
        if zone != settings.TIME_ZONE:  # Django's default needs no activating
            timezone.activate(zone)
        try:
            return get_response(request)
        finally:
            # The thread serves other requests next: none inherits this one's zone.
            timezone.deactivate()

    return middleware
