"""Sessions whose keys are stored only as HMACs, each beside the member it belongs to.

Django's database backend stores the session key — the bearer secret in the cookie
— in plaintext, so a database dump would hand out every logged-in session. This
backend stores ``token_digest(key)`` instead (truncated to the column's 40
characters, 160 bits); the key itself lives only in the member's cookie or API
client. Ending all of a member's sessions does not need to find them: every
session carries Django's session auth hash, which changes with the password. (It
is derived from the stored password hash: when a login stores that hash anew,
upgraded, the password unchanged, ``sign_sessions_anew`` gives the member's sessions
the new one, so an upgrade logs nobody out.)

The rows are ``MemberSession``s: Django's three columns and the member, written from
the session's data on every save, so the API finds a bearer's session and member in
one query (``session_and_member``) where ``django.contrib.auth.get_user`` takes two.

Each row also carries what its member is shown on the sessions page: its kind, when it
started, the browser, system and masked network of its login (set on the store by
``do_log_in``, carried over when the key is cycled) and when it was last used — written
by the request that loads it only once ``SESSION_LAST_SEEN_INTERVAL`` has passed, so a
member's requests do not each write their session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare, get_random_string

from inviteonly.accounts.models import Member, MemberSession, SessionKind
from inviteonly.lib import clock, crypto
from inviteonly.lib.clients import ClientDescription
from inviteonly.lib.queries import (
    columns_of,
    fetch_model,
    insert_later,
    unique_or_none,
    update,
)


def stored_session_key(session_key: str) -> str:
    return crypto.token_digest(session_key, context="session")[:40]


def session_public_id(stored_key: str) -> str:
    """The id a member's session is shown and ended by (the sessions page, the API): a
    digest of the stored digest, so neither the key nor the row's own key ever leaves the
    server, and it tells nothing about another member's sessions."""
    return crypto.token_digest(stored_key, context="session-id")[:16]


class SessionStore(DatabaseSessionStore):
    # What the row shows its member (MemberSession): read with it, set anew by a login
    # (do_log_in), written with it whenever it is stored.
    kind: str = SessionKind.WEB
    client: ClientDescription = ClientDescription(browser="", system="")
    network: str = ""
    created_at: datetime | None = None  # None: "now", when the row is first stored
    last_seen_at: datetime | None = None  # None: not used since it started

    @classmethod
    def get_model_class(cls) -> type[MemberSession]:
        return MemberSession

    def _get_session_from_db(self) -> MemberSession | None:
        if self.session_key is None:
            return None
        session = unique_or_none(_live_session(self.session_key))
        if session is None:
            self._session_key = None
            return None
        self.remember_row(session)
        return session

    def remember_row(self, session: MemberSession) -> None:
        """Take the shown facts of the loaded ``session``, and note that it is in use."""
        self.kind = session.kind or SessionKind.WEB
        self.client = ClientDescription(browser=session.browser, system=session.system)
        self.network = session.network
        self.created_at = session.created_at
        self.last_seen_at = session.last_seen_at
        if session.member_id is None:
            return  # not logged in: nothing a member is shown
        now = clock.now()
        # Never used since it was stored (NULL): used when it started.
        seen = session.last_seen_at or session.created_at
        if seen is None or now - seen >= settings.SESSION_LAST_SEEN_INTERVAL:
            update(MemberSession, {"last_seen_at": now}, where="session_key = %s",
                   params=[session.session_key])
            session.last_seen_at = self.last_seen_at = now

    def _get_new_session_key(self) -> str:
        # Django probes the database for a collision first; the INSERT that follows
        # (must_create) already refuses one, so the probe is a wasted round trip.
        return get_random_string(32, VALID_KEY_CHARS)

    def cycle_key(self) -> None:
        # A session that was never stored has no key anyone could have planted: nothing
        # to cycle. It gets a fresh key when first saved (one INSERT instead of an INSERT
        # of an empty session followed by an UPDATE).
        if self.session_key is None:
            return
        super().cycle_key()

    # The key and data this store last wrote: a save that would write them again does
    # nothing. A login stores its session under the member's lock (do_log_in); the
    # middleware, which sets the cookie, would otherwise write the same row again.
    _stored: tuple[str | None, dict[str, Any]] | None = None

    def save(self, must_create: bool = False) -> None:
        data = self._get_session(no_load=True)  # type: ignore[attr-defined]
        if not must_create and self._stored == (self.session_key, data):
            return
        if not must_create or self.session_key is None:
            super().save(must_create=must_create)
        else:
            # A new key (32 characters, 190 random bits) cannot collide, so its INSERT
            # needs no savepoint to retry in: two round trips fewer inside a login's
            # transaction.
            insert_later(self.create_model_instance(data))
        self._stored = (self.session_key, dict(data))

    def exists(self, session_key: str) -> bool:
        return MemberSession.objects.filter(session_key=stored_session_key(session_key)).exists()

    def create_model_instance(self, data: dict[str, Any]) -> MemberSession:
        member_id = data.get(SESSION_KEY)
        now = clock.now()
        if self.created_at is None:
            self.created_at, self.last_seen_at = now, None
        return MemberSession(
            session_key=stored_session_key(self._get_or_create_session_key()),  # type: ignore[attr-defined]
            session_data=self.encode(data),
            expire_date=self.get_expiry_date(),
            member_id=int(member_id) if member_id is not None else None,
            kind=self.kind,
            created_at=self.created_at,
            # As loaded: a row stored again (its data changed, its key cycled) keeps when
            # it was last used. A new one's is NULL, not used since it started, so the
            # next request need not write it (and a join's statement keeps within
            # psycopg's 50 cached parameters: lib/queries.py).
            last_seen_at=self.last_seen_at,
            browser=self.client.browser,
            system=self.client.system,
            network=self.network,
        )

    def delete(self, session_key: str | None = None) -> None:
        session_key = session_key or self.session_key
        if session_key is not None:
            MemberSession.objects.filter(session_key=stored_session_key(session_key)).delete()


def _live_session(session_key: str) -> QuerySet[MemberSession]:
    # Expiry is Django's business, so it is read from Django's clock.
    return MemberSession.objects.filter(
        session_key=stored_session_key(session_key), expire_date__gt=timezone.now()
    )


def end_sessions(members: QuerySet[Member]) -> int:
    """Log ``members`` out everywhere, pages and API (a ban does): their sessions are
    deleted, so lifting the ban later brings none of them back. How many."""
    deleted, _ = MemberSession.objects.filter(member__in=members).delete()
    return deleted


def end_other_sessions(member_id: int, *, keeping: str | None) -> int:
    """Log the member out everywhere but the session whose key is ``keeping`` (none:
    everywhere), pages and API. Call it under the member's lock (lock order,
    moderation.actions.lock_members: the member, then their sessions). How many ended."""
    others = MemberSession.objects.filter(member_id=member_id)
    if keeping is not None:
        others = others.exclude(session_key=stored_session_key(keeping))
    deleted, _ = others.delete()
    return deleted


def sweep_expired_sessions() -> int:
    """Delete sessions past their expiry (part of `inviteonly sweep`); how many."""
    deleted, _ = MemberSession.objects.filter(expire_date__lte=timezone.now()).delete()
    return deleted


# What session_and_member reads: the session row joined to its member (see
# lib/queries.py for why it is written by hand).
_SESSION_AND_MEMBER_SQL = (
    f"SELECT {columns_of(MemberSession, 's')}, {columns_of(Member, 'm')} "  # noqa: S608 (model metadata only)
    "FROM accounts_member_session s JOIN accounts_member m ON m.id = s.member_id "
    "WHERE s.session_key = %s AND s.expire_date > %s"
)


def session_and_member(session_key: str) -> tuple[SessionStore | None, Member | None]:
    """The live session with this key, if it is logged in as a member, loaded, and that
    member if the session verifies (``login_verifies``): one query. A hash made under
    one of the SECRET_KEY_FALLBACKS verifies too and is re-signed in place:
    a bearer keeps its key (Django's own check would cycle it, and the client would
    never learn the new one)."""
    row = fetch_model(
        MemberSession, _SESSION_AND_MEMBER_SQL,
        [stored_session_key(session_key), timezone.now()], related=["member"],
    )
    if row is None or row.member is None:
        return None, None
    member = row.member
    session = SessionStore(session_key=session_key)
    data = session.decode(row.session_data)
    session._session_cache = data  # type: ignore[attr-defined]  # loaded: no second query
    verified = login_verifies(data, member)
    if verified is None:
        return session, None
    session.remember_row(row)
    if verified == "fallback":
        session[HASH_SESSION_KEY] = member.get_session_auth_hash()
        session.save()
    return session, member


def login_verifies(data: dict[str, Any], member: Member) -> str | None:
    """Whether a session's ``data`` is logged in as ``member``, as
    ``django.contrib.auth.get_user`` verifies it: logged in through our backend, the
    member active, its auth hash the member's password's (compared in constant time).
    "current"; "fallback": the hash was made under one of the SECRET_KEY_FALLBACKS and
    is to be signed anew; None: it does not verify (the session is logged out)."""
    if not (
        member.is_active
        and data.get(SESSION_KEY) == str(member.pk)
        and data.get(BACKEND_SESSION_KEY) in settings.AUTHENTICATION_BACKENDS
    ):
        return None
    stored_hash = data.get(HASH_SESSION_KEY, "")
    if constant_time_compare(stored_hash, member.get_session_auth_hash()):
        return "current"
    if any(constant_time_compare(stored_hash, fallback)
           for fallback in member.get_session_auth_fallback_hash()):
        return "fallback"
    return None


def sign_sessions_anew(member: Member, *, signed_with: list[str]) -> int:
    """The member's password hash was stored anew without the password changing (an
    upgrade, Member.check_password): the session auth hash derives from it, so each of
    their sessions whose hash is one of ``signed_with`` (the old hash's, under the
    secret key and its fallbacks) gets the new one and stays logged in. Sessions that
    did not verify before stay logged out. Call it in the transaction that stored the
    new hash, after it (the lock order: the member, then their sessions). How many."""
    current = member.get_session_auth_hash()
    store = SessionStore()
    signed = 0
    for row in MemberSession.objects.filter(member_id=member.pk).only("session_key",
                                                                      "session_data"):
        data = store.decode(row.session_data)
        stored_hash = data.get(HASH_SESSION_KEY, "")
        if any(constant_time_compare(stored_hash, old) for old in signed_with):
            data[HASH_SESSION_KEY] = current
            signed += update(MemberSession, {"session_data": store.encode(data)},
                             where="session_key = %s", params=[row.session_key])
    return signed
