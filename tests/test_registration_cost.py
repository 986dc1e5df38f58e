"""What one registration through the API costs the database, pinned per request (as
Zulip pins query counts), so that extra statements show up here and not only in
``benchmarks/join_flow.py``. Transaction control (BEGIN, SAVEPOINT, RELEASE) is left
out of the counts: it differs between SQLite and PostgreSQL and between tests that run
inside a transaction and production."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from tests.conftest import PASSWORD, ApiClient, SmsOutbox

NUMBER = "+79161112233"
TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")
# The shape of the default limits (inviteonly/settings.py; the test settings have none).
DEFAULT_SHAPED_LIMITS = {
    "invite": [("ip", 50, 86400), ("member", 20, 86400)],
    "invitation_sms": [("number", 3, 86400)],
    "join": [("ip", 10, 3600)],
    "send_code": [("ip", 20, 3600), ("number", 1, 60), ("number", 5, 3600),
                  ("number", 10, 86400)],
    "check_code": [("ip", 30, 600)],
}


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].upper().startswith(TRANSACTION_CONTROL)
    ]


def registration_statements(sms_outbox: SmsOutbox) -> tuple[list[str], list[str], list[str]]:
    """One registration through the API — the founder invites NUMBER, the newcomer
    joins and confirms — and the statements of each of its three requests (the SMS
    deliveries between them, a worker's, left out)."""
    inviter = ApiClient()
    inviter.log_in("+79160000001")
    with CaptureQueriesContext(connection) as invite:
        assert inviter.post("/invitations", {"phone": NUMBER}).status_code == 201
    token = sms_outbox.join_token_for(NUMBER)
    newcomer = ApiClient()
    with CaptureQueriesContext(connection) as start:
        started = newcomer.post("/join", {
            "token": token, "phone": NUMBER, "display_name": "Newcomer Boris",
            "password": PASSWORD, "language": "en",
        })
    assert started.status_code == 202, started.json_body
    code = sms_outbox.code_for(NUMBER)
    with CaptureQueriesContext(connection) as confirm:
        joined = newcomer.post("/join/confirm", {
            "verification_token": started.json_body["verification_token"], "code": code,
        })
    assert joined.status_code == 201, joined.json_body
    return statements(invite), statements(start), statements(confirm)


@pytest.mark.django_db
@override_settings(RATE_LIMITS=DEFAULT_SHAPED_LIMITS)
def test_each_request_of_a_registration_stays_within_its_statement_budget(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    invite, start, confirm = registration_statements(sms_outbox)

    # The rows each action creates go in together as it ends (lib.queries.
    # written_together): on PostgreSQL in one statement, on SQLite one per table.
    together = connection.vendor == "postgresql"
    # Bearer session with its member (one query), the three rate-limit rules (the
    # number's invitation SMS too) in one upsert, the inviter locked, their invite
    # rights (one query for a founder), a pending invitation and the number's owner
    # looked for (one query); then SMS, invitation, audit entry.
    assert len(invite) == 5 + (1 if together else 3), invite
    # Invitation read with the site mode, five rate-limit rules in one upsert; then
    # older codes replaced, verification, SMS, audit entry (lib.queries.written_at_once:
    # on PostgreSQL one statement, with no transaction around it).
    assert len(start) == 2 + (1 if together else 4), start
    # Rate-limit upsert, verification locked (found by its token) and read with the site
    # mode, member; then, as the join ends, the invitation redeemed (its row count
    # checked afterwards), the code consumed (it was checked under the lock), one
    # UPDATE of the member (its place in the tree, which ends with its new id, and its
    # last login), the three audit entries (on SQLite in one INSERT), the inviter's
    # notice, the session, the number's login failures forgotten. The new member's
    # invite rights in the answer need no query: nothing about them can exist yet.
    assert len(confirm) == 3 + (1 if together else 7), confirm
    member = Member.objects.get(display_name="Newcomer Boris")
    assert list(
        AuditEntry.objects.filter(actor=member).order_by("id").values_list("action", flat=True)
    ) == [AuditAction.MEMBER_JOINED, AuditAction.INVITATION_REDEEMED,
          AuditAction.LOGIN_SUCCEEDED]



@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's cache: PostgreSQL")
@override_settings(RATE_LIMITS=DEFAULT_SHAPED_LIMITS, SMS_PUMPING_DEFENCE=True)
def test_every_statement_of_a_registration_stays_in_psycopgs_statement_cache(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """psycopg parses a statement of more than 4,096 bytes or 50 parameters afresh on
    every run (a tenth of a millisecond or more of Python): twice a registration's
    statement has crept over one of them by a few bytes or one parameter."""
    from psycopg import _queries

    seen: list[tuple[str, int]] = []

    def record(execute, sql, params, many, context):
        seen.append((sql, len(params or ())))
        return execute(sql, params, many, context)

    inviter = ApiClient()
    inviter.log_in("+79160000001")
    newcomer = ApiClient()
    # An app or a browser names itself: the session stores its browser and system.
    newcomer.client.defaults["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0 Mobile Safari/537.36"
    )
    with connection.execute_wrapper(record):
        assert inviter.post("/invitations", {"phone": NUMBER}).status_code == 201
        started = newcomer.post("/join", {
            "token": sms_outbox.join_token_for(NUMBER), "phone": NUMBER,
            "display_name": "Newcomer Boris", "password": PASSWORD,
        })
        assert started.status_code == 202, started.json_body
        joined = newcomer.post("/join/confirm", {
            "verification_token": started.json_body["verification_token"],
            "code": sms_outbox.code_for(NUMBER),
        })
        assert joined.status_code == 201, joined.json_body
    assert len(seen) > 8
    too_big = [
        (len(sql.encode()), parameters, sql[:80]) for sql, parameters in seen
        if len(sql.encode()) > _queries.MAX_CACHED_STATEMENT_LENGTH
        or parameters > _queries.MAX_CACHED_STATEMENT_PARAMS
    ]
    assert too_big == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit: PostgreSQL")
def test_only_the_code_requests_write_commits_without_waiting_for_the_disk(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """A code lost in a crash of the database server is asked for again
    (lib.queries.written_at_once); the invitation and the new member wait for the
    disk. (Inside a test's transaction nothing may turn it off: this test commits.)"""
    invite, start, confirm = registration_statements(sms_outbox)
    assert [sql for sql in invite + start + confirm if "synchronous_commit" in sql] == start[-1:]
    assert "phone_verification" in start[-1]
