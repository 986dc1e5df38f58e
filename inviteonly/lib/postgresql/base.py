"""Django's PostgreSQL backend, with a cheaper health check.

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
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
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
