"""``lib.queries.insert``, ``written_together`` (and ``written_at_once``) and
``update``: the rows a registration writes, by statements built once (on PostgreSQL
one for all of an action's new rows), are the rows ``save()`` and ``QuerySet.update()`` write."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inviteonly.abuse.models import RateLimitCounter
from inviteonly.accounts.models import Member, MemberSession
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.models import Invitation
from inviteonly.lib import clock, crypto
from inviteonly.lib.queries import (
    execute_later,
    insert,
    insert_all,
    insert_later,
    update,
    update_later,
    update_later_counted,
    written_at_once,
    written_together,
)
from inviteonly.notifications.models import Notification, NotificationKind
from inviteonly.phone_verification.models import PhoneVerification, VerificationPurpose
from inviteonly.sms.models import OutboundSms, SmsPurpose, SmsStatus
from tests.conftest import FrozenClock, make_member

pytestmark = pytest.mark.django_db


def outbound_sms(_member: Member) -> OutboundSms:
    return OutboundSms(
        purpose=SmsPurpose.JOIN_CODE, recipient_ciphertext=b"\x01cipher",
        recipient_masked="+7 916 ***-**-67", region="RU", text_ciphertext=b"\x02text",
        encoding="ucs2", segments=2, status=SmsStatus.QUEUED,
    )


def invitation(member: Member) -> Invitation:
    now = clock.now()
    return Invitation(
        inviter=member, token_digest=crypto.token_digest("t", context="join"),
        phone_blind_index="b" * 64, phone_ciphertext=b"\x03number",
        phone_masked="+7 916 ***-**-67", note="Привет", created_at=now,
        expires_at=now + timedelta(days=7), spent_allowance=True,
    )


def verification(member: Member) -> PhoneVerification:
    now = clock.now()
    return PhoneVerification(
        purpose=VerificationPurpose.RECOVERY,
        token_digest=crypto.token_digest("v", context="verification"),
        code_digest="c" * 64, can_succeed=True, phone_blind_index="b" * 64,
        phone_ciphertext=b"\x04number", phone_masked="+7 916 ***-**-67", region="RU",
        member=member, pending_display_name="Boris", pending_password_hash="argon2$…",
        pending_language="ru", created_at=now, expires_at=now + timedelta(minutes=10),
    )


def notification(member: Member) -> Notification:
    return Notification(member=member, kind=NotificationKind.INVITEE_JOINED, subject=member)


def audit_entry(member: Member) -> AuditEntry:
    return AuditEntry(
        action=AuditAction.MEMBER_JOINED, actor=member, target_member=member,
        ip_address="2001:db8::1", details={"phone_masked": "+7 916 ***-**-67", "attempt": 2},
    )


def stored_fields(row: Model) -> dict[str, tuple[object, type]]:
    """Every column of ``row`` as read back, but its id and token digest."""
    model = type(row)
    read = model._default_manager.get(pk=row.pk)
    return {
        field.name: (getattr(read, field.attname), type(getattr(read, field.attname)))
        for field in model._meta.concrete_fields
        if not field.primary_key and field.name != "token_digest"
    }


@pytest.mark.parametrize(
    "build", [outbound_sms, invitation, verification, notification, audit_entry],
    ids=lambda build: build.__name__,
)
def test_insert_writes_the_row_save_writes(
    build: Callable[[Member], Model], clock: FrozenClock
) -> None:
    member = make_member()
    ours, theirs = build(member), build(member)
    theirs.save(force_insert=True)
    if hasattr(ours, "token_digest"):  # unique: ours may not repeat theirs
        ours.token_digest = ours.token_digest[::-1]
    assert insert(ours) is ours
    assert ours.pk is not None and ours.pk != theirs.pk
    assert not ours._state.adding
    assert stored_fields(ours) == stored_fields(theirs)


def test_insert_refuses_a_saved_row_and_an_unsaved_related_row() -> None:
    member = make_member()
    saved = insert(notification(member))
    with pytest.raises(AssertionError):
        insert(saved)
    stranger = Member(display_name="Not saved")
    with pytest.raises(ValueError, match="unsaved related object"):
        insert(Notification(member=stranger, kind=NotificationKind.INVITEE_JOINED))
    assert Notification.objects.count() == 1


def test_insert_all_writes_several_rows_in_one_statement_each_with_its_id(
    django_assert_num_queries: Any,
) -> None:
    member = make_member()
    entries = [
        AuditEntry(action=action, actor=member, details={"attempt": number})
        for number, action in enumerate(
            [AuditAction.MEMBER_JOINED, AuditAction.INVITATION_REDEEMED,
             AuditAction.LOGIN_SUCCEEDED]
        )
    ]
    with django_assert_num_queries(1):
        assert insert_all(entries) == entries
    for number, entry in enumerate(entries):
        stored = AuditEntry.objects.get(pk=entry.pk)
        assert (stored.action, stored.details) == (entry.action, {"attempt": number})


def test_insert_keeps_a_key_the_row_was_given(clock: FrozenClock) -> None:
    member = make_member()
    session = MemberSession(
        session_key="k" * 40, session_data="data", expire_date=clock(), member_id=member.id
    )
    assert insert(session).pk == "k" * 40
    stored = MemberSession.objects.get(pk="k" * 40)
    assert (stored.session_data, stored.expire_date, stored.member_id) == (
        "data", clock(), member.id,
    )


def test_update_changes_the_rows_queryset_update_changes(clock: FrozenClock) -> None:
    member, newcomer, other_newcomer = make_member(), make_member(), make_member()
    ours, theirs = invitation(member), invitation(member)
    theirs.token_digest = theirs.token_digest[::-1]  # unique
    insert(ours), insert(theirs)
    now = clock.advance(hours=1)
    condition = "id = %s AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > %s"
    values = {"redeemed_at": now, "redeemed_by": newcomer.pk, "note": "", "spent_allowance": False}
    assert update(Invitation, values, where=condition, params=[ours.pk, now]) == 1
    assert Invitation.objects.filter(
        id=theirs.pk, redeemed_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    ).update(redeemed_at=now, redeemed_by=other_newcomer, note="", spent_allowance=False) == 1
    ours_stored, theirs_stored = stored_fields(ours), stored_fields(theirs)
    assert ours_stored.pop("redeemed_by") == (newcomer.pk, int)
    assert theirs_stored.pop("redeemed_by") == (other_newcomer.pk, int)
    assert ours_stored == theirs_stored
    # The condition holds no longer: nothing changes, and the count says so.
    assert update(Invitation, values, where=condition, params=[ours.pk, now]) == 0


def test_update_adapts_datetimes_in_the_condition(clock: FrozenClock) -> None:
    member = make_member()
    row = insert(invitation(member))  # expires in 7 days
    later = clock() + timedelta(days=8)
    condition = "id = %s AND expires_at > %s"
    assert update(Invitation, {"note": "late"}, where=condition, params=[row.pk, later]) == 0
    assert update(Invitation, {"note": "in time"}, where=condition, params=[row.pk, clock()]) == 1
    assert Invitation.objects.get(pk=row.pk).note == "in time"


def test_update_writes_none_and_bytes_as_the_orm_does(clock: FrozenClock) -> None:
    member = make_member()
    ours, theirs = insert(outbound_sms(member)), insert(outbound_sms(member))
    changes = {"status": SmsStatus.SENT, "sent_at": clock(), "text_ciphertext": None,
               "gateway_message_id": "gw-1", "recipient_ciphertext": b"\x00\xffnew"}
    assert update(OutboundSms, changes, where="id = %s", params=[ours.pk]) == 1
    assert OutboundSms.objects.filter(id=theirs.pk).update(**changes) == 1
    assert stored_fields(ours) == stored_fields(theirs)
    assert OutboundSms.objects.get(pk=ours.pk).text_ciphertext is None


def test_rows_written_together_go_in_as_the_block_ends_pointing_at_each_other(
    clock: FrozenClock,
) -> None:
    member = make_member()
    with CaptureQueriesContext(connection) as queries, written_together():
        sms = insert_later(outbound_sms(member))
        invited = insert_later(invitation(member))
        invited.sms = sms  # a row of the block, without an id yet
        first = insert_later(audit_entry(member))
        first.invitation = invited
        notice = insert_later(notification(member))
        second = insert_later(AuditEntry(action=AuditAction.INVITATION_REDEEMED, actor=member))
        assert sms.pk is None and not OutboundSms.objects.exists()
    inserts = [query for query in queries.captured_queries if "INSERT" in query["sql"]]
    # PostgreSQL: one statement; SQLite: one per model (the audit entries in one).
    assert len(inserts) == (1 if connection.vendor == "postgresql" else 4)
    stored = Invitation.objects.get(pk=invited.pk)
    assert (stored.sms_id, invited.sms_id) == (sms.pk, sms.pk)
    assert AuditEntry.objects.get(pk=first.pk).invitation_id == invited.pk
    assert Notification.objects.get(pk=notice.pk).member_id == member.pk
    # Rows of one model keep the order they were given in.
    assert list(AuditEntry.objects.order_by("id")) == [first, second]
    assert not any(row._state.adding for row in (sms, invited, first, notice, second))
    # And each is the row save() writes from the same fields.
    for ours, build in ((sms, outbound_sms), (invited, invitation), (first, audit_entry),
                        (notice, notification)):
        theirs = build(member)
        if isinstance(theirs, Invitation):
            theirs.token_digest = theirs.token_digest[::-1]  # unique
            theirs.sms = sms
        if isinstance(theirs, AuditEntry):
            theirs.invitation = invited
        theirs.save(force_insert=True)
        assert stored_fields(ours) == stored_fields(theirs), type(ours).__name__

def test_updates_written_together_go_in_as_the_block_ends_one_per_row() -> None:
    anna, boris = make_member(display_name="Anna"), make_member(display_name="Boris")
    at = timezone.now()
    with CaptureQueriesContext(connection) as queries, written_together():
        update_later(Member, {"display_name": "Anna K."}, where="id = %s", params=[anna.pk])
        update_later(Member, {"last_login": at}, where="id = %s", params=[anna.pk])
        update_later(Member, {"tree_path": b"\x00\x07"}, where="id = %s", params=[boris.pk])
        notice = insert_later(notification(anna))
        assert Member.objects.get(pk=anna.pk).display_name == "Anna"
    sqls = [query["sql"] for query in queries.captured_queries]
    writes = [sql for sql in sqls if not sql.startswith("SELECT")]  # the look inside
    if connection.vendor == "postgresql":
        assert len(writes) == 1
    else:
        # One UPDATE per row, with every change given for it; then the INSERT.
        assert [sql.split()[0] for sql in writes] == ["UPDATE", "UPDATE", "INSERT"]
        assert "display_name" in writes[0] and "last_login" in writes[0]
    stored = Member.objects.get(pk=anna.pk)
    assert (stored.display_name, stored.last_login) == ("Anna K.", at)
    assert bytes(Member.objects.get(pk=boris.pk).tree_path) == b"\x00\x07"
    assert Notification.objects.get().pk == notice.pk


def test_updates_alone_written_together_go_in_one_statement_on_postgresql() -> None:
    anna, boris = make_member(display_name="Anna"), make_member(display_name="Boris")
    with CaptureQueriesContext(connection) as queries, written_together():
        update_later(Member, {"display_name": "Anna K."}, where="id = %s", params=[anna.pk])
        update_later(Member, {"display_name": "Boris P."}, where="id = %s", params=[boris.pk])
    assert len(queries.captured_queries) == (1 if connection.vendor == "postgresql" else 2)
    assert sorted(Member.objects.values_list("display_name", flat=True)) == [
        "Anna K.", "Boris P."
    ]


def test_rows_written_together_are_not_written_if_the_block_raises() -> None:
    member = make_member(display_name="Anna")
    with pytest.raises(RuntimeError), written_together():
        insert_later(notification(member))
        insert_later(audit_entry(member))
        update_later(Member, {"display_name": "Anna K."}, where="id = %s", params=[member.pk])
        raise RuntimeError("the action was refused")
    assert not Notification.objects.exists()
    assert not AuditEntry.objects.exists()
    assert Member.objects.get(pk=member.pk).display_name == "Anna"


def test_counted_updates_written_together_say_how_many_rows_they_changed(
    clock: FrozenClock,
) -> None:
    member = make_member(display_name="Anna")
    unused, used = insert(invitation(member)), invitation(member)
    used.token_digest, used.redeemed_at = used.token_digest[::-1], clock()
    insert(used)
    redeem = "id = %s AND redeemed_at IS NULL"
    with CaptureQueriesContext(connection) as queries, written_together():
        first = update_later_counted(
            Invitation, {"redeemed_at": clock()}, where=redeem, params=[unused.pk]
        )
        second = update_later_counted(
            Invitation, {"redeemed_at": clock()}, where=redeem, params=[used.pk]
        )
        update_later(Member, {"display_name": "Anna K."}, where="id = %s", params=[member.pk])
        notice = insert_later(notification(member))
        assert (first.rows, second.rows) == (None, None)  # nothing written yet
    assert (first.rows, second.rows) == (1, 0)
    assert len(queries.captured_queries) == (1 if connection.vendor == "postgresql" else 4)
    assert Invitation.objects.get(pk=unused.pk).redeemed_at == clock()
    assert Member.objects.get(pk=member.pk).display_name == "Anna K."
    assert Notification.objects.get().pk == notice.pk
    # Outside a block the change is made, and counted, at once.
    again = update_later_counted(
        Invitation, {"redeemed_at": clock()}, where=redeem, params=[unused.pk]
    )
    assert again.rows == 0


def test_a_statement_written_together_goes_in_with_the_rows() -> None:
    member = make_member(display_name="Anna")
    upsert = (
        "INSERT INTO abuse_ratelimitcounter (bucket, count, expires_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (bucket) DO UPDATE SET count = abuse_ratelimitcounter.count + "
        "excluded.count RETURNING bucket, count"
    )
    ends = timezone.now() + timedelta(hours=1)
    RateLimitCounter.objects.create(bucket="b", count=2, expires_at=ends)
    with CaptureQueriesContext(connection) as queries, written_together():
        execute_later(upsert, ["a", 1, ends])
        execute_later(upsert, ["b", 3, ends])
        notice = insert_later(notification(member))
        assert not RateLimitCounter.objects.filter(bucket="a").exists()
    writes = [query for query in queries.captured_queries
              if not query["sql"].startswith("SELECT")]  # the look inside
    assert len(writes) == (1 if connection.vendor == "postgresql" else 3)
    assert dict(RateLimitCounter.objects.values_list("bucket", "count")) == {"a": 1, "b": 5}
    assert Notification.objects.get().pk == notice.pk
    with pytest.raises(AssertionError, match="written_together block"):
        execute_later(upsert, ["c", 1, ends])


def test_a_block_that_raises_after_its_counted_update_leaves_nothing(
    clock: FrozenClock,
) -> None:
    member = make_member(display_name="Anna")
    unused = insert(invitation(member))
    with pytest.raises(RuntimeError), transaction.atomic():
        with written_together():
            redeemed = update_later_counted(
                Invitation, {"redeemed_at": clock()},
                where="id = %s AND redeemed_at IS NULL", params=[unused.pk],
            )
            insert_later(notification(member))
        assert redeemed.rows == 1
        raise RuntimeError("the caller refuses what it sees")
    assert Invitation.objects.get(pk=unused.pk).redeemed_at is None
    assert not Notification.objects.exists()


def test_insert_later_and_update_later_outside_a_block_write_at_once() -> None:
    member = make_member(display_name="Anna")
    notice = insert_later(notification(member))
    assert Notification.objects.get().pk == notice.pk
    update_later(Member, {"display_name": "Anna K."}, where="id = %s", params=[member.pk])
    assert Member.objects.get(pk=member.pk).display_name == "Anna K."


def test_rows_written_together_refuse_an_unsaved_row_from_outside_the_block() -> None:
    stranger = Member(display_name="Not saved")
    member = make_member()
    with pytest.raises(ValueError, match="unsaved related object"), written_together():
        insert_later(notification(member))
        insert_later(Notification(member=stranger, kind=NotificationKind.INVITEE_JOINED))
    assert not Notification.objects.exists()


def _statements_in_transaction(run: Callable[[], None]) -> list[tuple[str, bool]]:
    """Each statement ``run`` sends (transaction control left out), and whether a
    transaction was open for it."""
    seen: list[tuple[str, bool]] = []

    def watch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            seen.append((sql.split()[0], connection.in_atomic_block))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        run()
    return seen


@pytest.mark.django_db(transaction=True)
def test_rows_written_at_once_need_no_transaction_on_postgresql(clock: FrozenClock) -> None:
    member = make_member(display_name="Anna")
    older = insert(verification(member))
    given: list[Model] = []

    def write() -> None:
        with written_at_once():
            update_later(PhoneVerification, {"consumed_at": clock()},
                         where="id = %s", params=[older.pk])
            given.append(insert_later(outbound_sms(member)))
            given.append(insert_later(audit_entry(member)))

    seen = _statements_in_transaction(write)
    if connection.vendor == "postgresql":
        # One statement, atomic by itself: no BEGIN and COMMIT to wait for.
        assert seen == [("WITH", False)]
    else:
        assert seen == [("UPDATE", True), ("INSERT", True), ("INSERT", True)]
    assert PhoneVerification.objects.get(pk=older.pk).consumed_at == clock()
    assert [OutboundSms.objects.get().pk, AuditEntry.objects.get().pk] == [
        row.pk for row in given
    ]


@pytest.mark.django_db(transaction=True)
def test_rows_written_at_once_go_in_all_or_none() -> None:
    member = make_member(display_name="Anna")
    insert(invitation(member))
    with pytest.raises(IntegrityError), written_at_once():
        insert_later(notification(member))
        update_later(Member, {"display_name": "Anna K."}, where="id = %s", params=[member.pk])
        insert_later(invitation(member))  # the same token digest: refused
    assert not Notification.objects.exists()
    assert Member.objects.get(pk=member.pk).display_name == "Anna"
    assert Invitation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_rows_written_at_once_not_waiting_for_the_disk_affect_only_their_own_commit() -> None:
    """On PostgreSQL the one statement turns synchronous_commit off for its own
    transaction; the session keeps its setting, a block inside a caller's transaction
    (whose other writes may need the disk) is left alone, and the rows are written as
    by any block."""
    member = make_member(display_name="Anna")
    statements: list[str] = []

    def watch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("WITH"):
            statements.append(sql)
        return execute(sql, params, many, context)

    def write(*, waits_for_disk: bool) -> None:
        with written_at_once(waits_for_disk=waits_for_disk):
            insert_later(outbound_sms(member))
            insert_later(audit_entry(member))

    with connection.execute_wrapper(watch):
        write(waits_for_disk=False)
        write(waits_for_disk=True)
        with transaction.atomic():
            write(waits_for_disk=False)
    assert OutboundSms.objects.count() == AuditEntry.objects.count() == 3
    if connection.vendor != "postgresql":
        assert statements == []  # one INSERT per model, in a transaction
        return
    assert ["synchronous_commit" in sql for sql in statements] == [True, False, False]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)


def test_a_block_written_at_once_may_not_touch_the_database() -> None:
    member = make_member(display_name="Anna")
    with pytest.raises(AssertionError, match="may not touch the database"), written_at_once():
        insert_later(notification(member))
        Member.objects.filter(pk=member.pk).exists()
    assert not Notification.objects.exists()
    # Outside the block the connection is as before.
    assert Member.objects.filter(pk=member.pk).exists()
