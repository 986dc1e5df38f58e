"""inviteonly/lib/postgresql: a kept PostgreSQL connection is health-checked before each
request's first query, without a round trip unless the server has written to it; and
timestamps are read by psycopg's own loader."""

from __future__ import annotations

import select
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql import base as django_postgresql

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="SQLite has no server to end a connection"
    ),
]


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def from_another_connection(sql: str, *params: object) -> None:
    assert connection.connection is not None
    with psycopg.connect(connection.connection.info.dsn, autocommit=True) as other:
        other.execute(sql, params)


def wait_until_the_server_has_written() -> None:
    assert connection.connection is not None
    poll = select.poll()
    poll.register(connection.connection.fileno(), select.POLLIN)
    assert poll.poll(5000), "the server wrote nothing to the connection within 5 s"


def next_request() -> None:
    """What ``request_started`` does for a server: mark the kept connection for a
    health check before its first query."""
    connection.close_if_unusable_or_obsolete()


@pytest.fixture
def selects_one(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Each health check that fell back to Django's ``SELECT 1``, with its answer."""
    checks: list[bool] = []
    django_check = django_postgresql.DatabaseWrapper.is_usable

    def counted(wrapper: django_postgresql.DatabaseWrapper) -> bool:
        usable = django_check(wrapper)
        checks.append(usable)
        return usable

    monkeypatch.setattr(django_postgresql.DatabaseWrapper, "is_usable", counted)
    yield checks


def test_a_quiet_connection_is_kept_without_a_round_trip(selects_one: list[bool]) -> None:
    pid = backend_pid()
    next_request()
    assert backend_pid() == pid
    assert connection.health_check_done  # type: ignore[attr-defined]  # (not in the stubs)
    assert selects_one == []


def test_a_connection_the_server_ended_is_replaced_before_the_first_query(
    selects_one: list[bool],
) -> None:
    pid = backend_pid()
    # What a restart or an idle timeout does to it.
    from_another_connection("SELECT pg_terminate_backend(%s)", pid)
    wait_until_the_server_has_written()
    next_request()
    assert backend_pid() != pid  # a new connection, and no error
    assert selects_one == [False]


def test_a_harmless_message_costs_a_select_1_and_keeps_the_connection(
    selects_one: list[bool],
) -> None:
    with connection.cursor() as cursor:
        cursor.execute("LISTEN inviteonly_health_check")
    pid = backend_pid()
    from_another_connection("NOTIFY inviteonly_health_check")
    wait_until_the_server_has_written()
    next_request()
    assert backend_pid() == pid
    assert selects_one == [True]
    with connection.cursor() as cursor:
        cursor.execute("UNLISTEN *")



def test_timestamps_are_read_in_utc_by_psycopgs_loader_and_alike_by_a_named_cursor() -> None:
    """The backend reads timestamptz with psycopg's (C) loader, not Django's Python one,
    and a value reads the same through it, through a named cursor (Django's way, which
    it falls back to) and through the ORM."""
    from datetime import UTC, datetime

    from psycopg.pq import Format

    from inviteonly.site_config.models import SiteConfiguration

    sql = "SELECT '2026-01-02 03:04:05.123456+03'::timestamptz"
    expected = datetime(2026, 1, 2, 0, 4, 5, 123456, tzinfo=UTC)
    connection.ensure_connection()
    assert connection.connection is not None
    oid = connection.connection.adapters.types["timestamptz"].oid
    loader = connection.connection.adapters.get_loader(oid, Format.TEXT)
    assert loader is not None and loader.__module__.startswith("psycopg")  # not Django's
    with connection.cursor() as cursor:
        cursor.execute(sql)
        (value,) = cursor.fetchone()
    assert value == expected and value.tzinfo is UTC
    with connection.chunked_cursor() as named, connection.cursor() as after:
        named.execute(sql)
        (through_named,) = named.fetchone()
        after.execute(sql)
        (after_named,) = after.fetchone()
    assert through_named == after_named == expected
    assert through_named.tzinfo is UTC and after_named.tzinfo is UTC
    # A named cursor (a migration's iterator(), say) leaves psycopg's loader in place.
    assert connection.connection.adapters.get_loader(oid, Format.TEXT) is loader
    SiteConfiguration.objects.create(id=1)
    SiteConfiguration.objects.update(updated_at=expected)  # no auto_now in update()
    saved = SiteConfiguration.objects.get(id=1).updated_at
    assert saved == expected and saved.tzinfo is UTC
