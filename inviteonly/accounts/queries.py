"""Reads about a member's own account: where they are logged in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inviteonly.accounts.models import Member, MemberSession, SessionKind
from inviteonly.accounts.sessions import (
    SessionStore,
    login_verifies,
    session_public_id,
    stored_session_key,
)


@dataclass(frozen=True)
class ShownSession:
    """One of a member's sessions as the member sees it: never its key."""

    id: str  # sessions.session_public_id
    current: bool
    kind: str  # a SessionKind, or "" for a session stored before kinds were
    client: str  # "Chrome on Android", translated; "" when the login named nothing
    network: str  # masked (lib/clients.py), "" when unknown
    created_at: datetime | None
    last_seen_at: datetime | None

    @property
    def kind_label(self) -> str:
        return str(SessionKind(self.kind).label) if self.kind else ""


def describe_session_client(*, browser: str, system: str) -> str:
    if browser and system:
        return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system


def other_sessions_ended_text(ended: int) -> str:
    """What "log out everywhere else" tells the member, on the page and in the API."""
    if not ended:
        return _("You had no other session to end.")
    return ngettext(
        "You were logged out of %(count)d other session.",
        "You were logged out of %(count)d other sessions.",
        ended,
    ) % {"count": ended}


def sessions_of(member: Member, *, session: SessionBase) -> list[ShownSession]:
    """The live sessions of ``member``, ``session`` (the one asking) first, then the most
    recently used: one query (the index on member_id). Live: not expired, and still
    logged in as the member (``sessions.login_verifies``), so that none is listed that
    would be refused if used."""
    current = session.session_key
    current_stored = stored_session_key(current) if current is not None else None
    rows = MemberSession.objects.filter(
        member_id=member.id, expire_date__gt=timezone.now()  # expiry: Django's clock
    ).only(
        "session_key", "session_data", "kind", "created_at", "last_seen_at", "browser",
        "system", "network",
    )
    store = SessionStore()
    shown = [
        ShownSession(
            id=session_public_id(row.session_key),
            current=row.session_key == current_stored,
            kind=row.kind,
            client=describe_session_client(browser=row.browser, system=row.system),
            network=row.network,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at or row.created_at,
        )
        for row in rows
        if login_verifies(store.decode(row.session_data), member) is not None
    ]
    never = datetime.min.replace(tzinfo=UTC)
    shown.sort(key=lambda row: (row.current, row.last_seen_at or never), reverse=True)
    return shown
