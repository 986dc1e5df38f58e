"""Database sessions whose keys are stored only as HMACs.

Django's database backend stores the session key — the bearer secret in the cookie
— in plaintext, so a database dump would hand out every logged-in session. This
backend stores ``token_digest(key)`` instead (truncated to the column's 40
characters, 160 bits); the key itself lives only in the member's cookie or API
client. Ending all of a member's sessions does not need to find them: every
session carries Django's session auth hash, which changes with the password.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.crypto import get_random_string

from inviteonly.lib import crypto
from inviteonly.lib.queries import unique_or_none


def stored_session_key(session_key: str) -> str:
    return crypto.token_digest(session_key, context="session")[:40]


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self) -> Session | None:
        if self.session_key is None:
            return None
        # Expiry is Django's business, so it is read from Django's clock.
        session = unique_or_none(
            Session.objects.filter(
                session_key=stored_session_key(self.session_key), expire_date__gt=timezone.now()
            )
        )
        if session is None:
            self._session_key = None
        return session

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

    def save(self, must_create: bool = False) -> None:
        if not must_create or self.session_key is None:
            super().save(must_create=must_create)
            return
        # A new key (32 characters, 190 random bits) cannot collide, so its INSERT needs
        # no savepoint to retry in: two round trips fewer inside a login's transaction.
        data = self._get_session(no_load=True)  # type: ignore[attr-defined]
        self.create_model_instance(data).save(force_insert=True)

    def exists(self, session_key: str) -> bool:
        return Session.objects.filter(session_key=stored_session_key(session_key)).exists()

    def create_model_instance(self, data: dict[str, Any]) -> Session:
        return Session(
            session_key=stored_session_key(self._get_or_create_session_key()),  # type: ignore[attr-defined]
            session_data=self.encode(data),
            expire_date=self.get_expiry_date(),
        )

    def delete(self, session_key: str | None = None) -> None:
        session_key = session_key or self.session_key
        if session_key is not None:
            Session.objects.filter(session_key=stored_session_key(session_key)).delete()

