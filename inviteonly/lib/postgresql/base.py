"""Django's PostgreSQL backend, with a cheaper health check and faster timestamps.

With ``CONN_HEALTH_CHECKS`` Django checks a kept connection before each request's
first query, by sending ``SELECT 1``: a round trip on every request. A connection the
server has ended (a restart, ``pg_terminate_backend``, ``idle_session_timeout``) is
one the server has written to while it sat idle between our requests: the error that
ends it, then the end of the stream. So a connection whose socket has nothing to read
is as usable as ``SELECT 1`` would find it, and we ask the socket (one ``poll``, no
round trip). When it has something to read, which may also be a harmless notice, we
fall back to Django's ``SELECT 1``, which reads it and decides.

A connection that died without a word (a cable pulled) passes both checks alike; the
query that follows then fails, as it would after ``SELECT 1`` timed out.

Timestamps: Django reads every ``timestamptz`` through a loader of its own, a Python
subclass of psycopg's, so psycopg's loader written in C goes unused (a tenth of a
millisecond per ten timestamps). Django's loader gives the value the connection's
time zone, UTC; psycopg's gives it the connection's time zone itself, which Django set
to UTC. So while the time zone is UTC, each connection reads them with psycopg's.
"""

from __future__ import annotations

import select
from datetime import UTC
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg import pq

# psycopg's own loader of timestamptz as text (its C one, where psycopg has it).
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(
    psycopg.adapters.types["timestamptz"].oid, pq.Format.TEXT
)


class DatabaseWrapper(base.DatabaseWrapper):
    # Whether this connection reads timestamps with _TIMESTAMPTZ_LOADER.
    _psycopg_timestamps = False

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        self._psycopg_timestamps = self.timezone is UTC
        if self._psycopg_timestamps:
            connection.adapters.register_loader("timestamptz", _TIMESTAMPTZ_LOADER)
        return connection

    def create_cursor(self, name: str | None = None) -> Any:
        if not self._psycopg_timestamps:
            return super().create_cursor(name)
        if name is None and self.timezone is UTC:
            return self.connection.cursor()
        # A named cursor (``iterator()``: a migration's, say), or the time zone changed
        # (a test's settings): Django's way, which checks the loader's time zone, so
        # with Django's loader; then psycopg's again while the zone is UTC.
        register_tzloader(self.timezone, self.connection)
        cursor = super().create_cursor(name)
        self._psycopg_timestamps = self.timezone is UTC
        if self._psycopg_timestamps:
            self.connection.adapters.register_loader("timestamptz", _TIMESTAMPTZ_LOADER)
        return cursor

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed:
            return False
        if (
            connection.pgconn.status != pq.ConnStatus.OK
            or connection.info.transaction_status != pq.TransactionStatus.IDLE
        ):
            return super().is_usable()
        try:
            poll = select.poll()
            poll.register(connection.fileno(), select.POLLIN)
            quiet = not poll.poll(0)
        except (OSError, ValueError):
            return False
        return quiet or super().is_usable()
