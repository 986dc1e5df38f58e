"""API authentication: the bearer token is a session key (stored only as an HMAC)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from inviteonly.accounts.actions import do_log_in, do_log_out
from inviteonly.accounts.models import Member, SessionKind
from inviteonly.accounts.sessions import SessionStore, session_and_member
from inviteonly.lib.time_zones import effective_time_zone
from inviteonly.lib.web import client_ip


def _session_request(request: HttpRequest, session: SessionStore) -> HttpRequest:
    """A stand-in request carrying an API session, for Django's login machinery."""
    stand_in = HttpRequest()
    stand_in.META = dict(request.META)
    stand_in.session = session
    return stand_in


class SessionBearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Member | None:
        session, member = session_and_member(token)  # one query
        if member is None:
            return None
        request.user = member
        request.api_session = session  # type: ignore[attr-defined]
        # The messages the answer writes ("valid until …") in the member's zone; its
        # times stay ISO 8601 in UTC (accounts.middleware deactivates it afterwards).
        # The middleware has the site's active already: most members read that one.
        zone = effective_time_zone(member.time_zone)
        if zone != settings.SITE_TIME_ZONE:
            timezone.activate(zone)
        return member


session_bearer = SessionBearer()


def start_api_session(request: HttpRequest, member: Member, *, just_joined: bool = False) -> str:
    """A new bearer token for ``member``; ``just_joined``: see ``do_log_in``."""
    session = SessionStore()
    session.kind = SessionKind.API
    stand_in = _session_request(request, session)
    do_log_in(stand_in, member=member, ip_address=client_ip(request), just_joined=just_joined)
    assert stand_in.session.session_key is not None
    return stand_in.session.session_key


def end_api_session(request: HttpRequest) -> None:
    stand_in = _session_request(request, request.api_session)  # type: ignore[attr-defined]
    stand_in.user = request.user
    do_log_out(stand_in, ip_address=client_ip(request))


def authenticated_member(request: HttpRequest) -> Member:
    assert isinstance(request.user, Member)
    return request.user
