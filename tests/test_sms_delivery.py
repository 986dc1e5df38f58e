"""The delivery worker: claims, retries with backoff, gives up, survives bad rows and
dead workers; texts are dropped once sent."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, models, transaction
from django.test import Client
from django.utils import timezone

from inviteonly.accounts.actions import do_start_recovery
from inviteonly.invitations.actions import do_invite_by_phone, do_revoke_invitation
from inviteonly.lib.phone_numbers import normalize_phone_number
from inviteonly.sms import delivery
from inviteonly.sms.delivery import deliver_due_messages
from inviteonly.sms.gateways import GatewayError
from inviteonly.sms.models import OutboundSms, SmsPurpose, SmsStatus, SmsStatusForSender
from inviteonly.sms.outbox import queue_sms
from tests.conftest import FrozenClock, SmsOutbox, make_member
from tests.test_concurrency import race

pytestmark = pytest.mark.django_db


def queue(
    number: str, text: str = "hello", *, purpose: SmsPurpose = SmsPurpose.JOIN_CODE
) -> OutboundSms:
    return queue_sms(phone=normalize_phone_number(number), text=text, purpose=purpose)


def test_sent_message_records_gateway_id_and_drops_its_text(sms_outbox: SmsOutbox) -> None:
    message = queue("+79161234567", "123456 is your code")
    assert [sms.text for sms in sms_outbox.deliver()] == ["123456 is your code"]
    message.refresh_from_db()
    assert message.status == SmsStatus.SENT
    assert message.gateway_message_id.startswith("memory-")
    assert message.text_ciphertext is None
    assert sms_outbox.deliver() == []  # never twice


def test_unavailable_gateway_means_retry_with_backoff(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    message = queue("+79161234567")
    sms_outbox.gateway.unavailable = True
    assert deliver_due_messages(gateway=sms_outbox.gateway) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == (SmsStatus.QUEUED, 1)
    delay = message.next_attempt_at - clock.current
    assert timedelta(seconds=2) <= delay <= timedelta(seconds=8)  # 5 s ± jitter
    sms_outbox.gateway.unavailable = False
    assert deliver_due_messages(gateway=sms_outbox.gateway) == 0  # not due yet
    clock.advance(seconds=8)
    assert len(sms_outbox.deliver()) == 1


def test_refused_number_fails_for_good(sms_outbox: SmsOutbox) -> None:
    message = queue("+79161234567")
    sms_outbox.gateway.refused_numbers.add("+79161234567")
    sms_outbox.deliver()
    message.refresh_from_db()
    assert message.status == SmsStatus.FAILED
    assert message.text_ciphertext is None
    assert "refused" in message.last_error


def test_a_gateway_down_for_hours_loses_nothing(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    message = queue("+79161234567", purpose=SmsPurpose.INVITATION)
    sms_outbox.gateway.unavailable = True
    for _ in range(3 * 60):  # three hours, a worker's poll every minute
        deliver_due_messages(gateway=sms_outbox.gateway)
        clock.advance(minutes=1)
    message.refresh_from_db()
    assert message.status == SmsStatus.QUEUED and message.text_ciphertext is not None
    assert message.attempts > settings.SMS_MAX_ATTEMPTS
    assert message.failed_attempts == message.attempts
    # Tried again within minutes of the gateway's return, not hours.
    assert message.next_attempt_at - clock.current <= settings.SMS_RETRY_MAX_DELAY * 1.5
    sms_outbox.gateway.unavailable = False
    clock.current = message.next_attempt_at
    assert [sms.text for sms in sms_outbox.deliver()] == ["hello"]


def test_a_gateway_down_past_the_max_age_fails_the_message(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    message = queue("+79161234567", purpose=SmsPurpose.INVITATION)
    sms_outbox.gateway.unavailable = True
    while clock.current - message.created_at <= settings.SMS_MAX_AGE + timedelta(minutes=10):
        deliver_due_messages(gateway=sms_outbox.gateway)
        clock.advance(minutes=5)
    message.refresh_from_db()
    assert message.status == SmsStatus.FAILED and "SMS_MAX_AGE" in message.last_error
    assert message.text_ciphertext is None
    sms_outbox.gateway.unavailable = False
    assert sms_outbox.deliver() == []


def test_the_attempt_counters_hold_every_attempt_of_the_longest_allowed_outage() -> None:
    """A gateway down keeps a message's attempts growing, one at least every half
    SMS_RETRY_BASE_DELAY (the shortest delay, at the least jitter), for as long as
    SMS_MAX_AGE allows: its longest (INVITEONLY_SMS_MAX_AGE_HOURS' maximum) must fit the
    counters' column as PostgreSQL stores it (SQLite stores any integer)."""
    from django.db.backends.base.operations import BaseDatabaseOperations

    from inviteonly import settings as site_settings

    longest_age = timedelta(days=site_settings._MAX_DAYS)
    most_attempts = longest_age / (settings.SMS_RETRY_BASE_DELAY * 0.5) + settings.SMS_MAX_ATTEMPTS
    for name in ("attempts", "failed_attempts"):
        field = OutboundSms._meta.get_field(name)
        assert isinstance(field, models.Field)
        _lowest, highest = BaseDatabaseOperations.integer_field_ranges[field.get_internal_type()]
        assert most_attempts <= highest, name


def test_a_message_past_the_old_small_integer_counters_is_still_retried(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    """Small integers (up to 32,767) overflowed after about 56 days of an outage, with
    SMS_MAX_AGE raised that far: the claim failed, and with it every batch."""
    message = queue("+79161234567", purpose=SmsPurpose.INVITATION)
    OutboundSms.objects.filter(id=message.id).update(attempts=32_767, failed_attempts=32_767)
    sms_outbox.gateway.unavailable = True
    assert deliver_due_messages(gateway=sms_outbox.gateway) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts, message.failed_attempts) == (
        SmsStatus.QUEUED, 32_768, 32_768
    )
    sms_outbox.gateway.unavailable = False
    clock.current = message.next_attempt_at
    assert [sms.text for sms in sms_outbox.deliver()] == ["hello"]


@pytest.mark.parametrize("suppressed", [False, True])
def test_a_code_the_gateway_was_down_for_until_it_died_is_never_sent(
    sms_outbox: SmsOutbox, clock: FrozenClock, suppressed: bool
) -> None:
    """A code is dead VERIFICATION_CODE_TTL after it was sent for: its SMS, held up by an
    outage, would reach the person hours later with a code that no longer works (one per
    try they made meanwhile), each paid for. A suppressed one ends the same way."""
    # The real one first: the worker meets the gateway down on it.
    real = queue("+79161234568", "654321 is your code")
    message = queue_sms(phone=normalize_phone_number("+79161234567"), text="123456 is your code",
                        purpose=SmsPurpose.RECOVERY_CODE, suppressed=suppressed)
    sms_outbox.gateway.unavailable = True
    while clock.current - message.created_at <= settings.VERIFICATION_CODE_TTL:
        deliver_due_messages(gateway=sms_outbox.gateway)
        clock.advance(minutes=1)
    sms_outbox.gateway.unavailable = False
    clock.advance(minutes=10)
    assert sms_outbox.deliver() == []
    for sms in (message, real):
        sms.refresh_from_db()
        assert sms.status == SmsStatus.FAILED and sms.text_ciphertext is None
        assert "VERIFICATION_CODE_TTL" in sms.last_error


def test_a_worker_dying_after_many_gateway_failures_loses_nothing(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    queue("+79161234567", purpose=SmsPurpose.INVITATION)
    sms_outbox.gateway.unavailable = True
    for _ in range(settings.SMS_MAX_ATTEMPTS + 2):
        deliver_due_messages(gateway=sms_outbox.gateway)
        clock.advance(minutes=10)
    assert len(delivery._claim_batch(10, claim="dying")) == 1  # and its worker dies
    clock.advance(minutes=3)
    assert delivery.sweep_abandoned_messages() == 0
    sms_outbox.gateway.unavailable = False
    assert [sms.text for sms in sms_outbox.deliver()] == ["hello"]


def test_an_unsendable_message_holds_up_nothing_and_nothing_is_sent_twice(
    sms_outbox: SmsOutbox,
) -> None:
    first = queue("+79161234567", "first")
    broken = queue("+79161234568", "broken")
    last = queue("+79161234569", "last")
    # A ciphertext under a key the ring no longer has.
    OutboundSms.objects.filter(id=broken.id).update(text_ciphertext=b"\x03oldsomething")
    for _ in range(3):
        deliver_due_messages(gateway=sms_outbox.gateway)
    assert sorted(sms.text for sms in sms_outbox.messages) == ["first", "last"]
    broken.refresh_from_db()
    assert broken.status == SmsStatus.QUEUED and "decrypt" in broken.last_error
    assert {first.id, last.id} == set(
        OutboundSms.objects.filter(status=SmsStatus.SENT).values_list("id", flat=True)
    )


def test_a_dead_workers_claim_returns_to_the_queue(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    message = queue("+79161234567")
    # A worker claimed it and died before sending.
    OutboundSms.objects.filter(id=message.id).update(
        status=SmsStatus.SENDING, next_attempt_at=clock.current + timedelta(minutes=2)
    )
    assert sms_outbox.deliver() == []
    clock.advance(minutes=2)
    assert [sms.text for sms in sms_outbox.deliver()] == ["hello"]


def test_a_worker_whose_lease_ran_out_cannot_overwrite_the_new_claim(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    message = queue("+79161234567")
    [slow_copy] = delivery._claim_batch(10, claim="slow-worker")
    clock.advance(minutes=3)  # the slow worker's lease ran out; another takes over
    assert [sms.text for sms in sms_outbox.deliver()] == ["hello"]
    # The slow worker finally hears back from its gateway: its answer is ignored.
    delivery._record(
        slow_copy, claim="slow-worker", gateway=sms_outbox.gateway,
        outcome=GatewayError("timeout", retryable=True),
    )
    message.refresh_from_db()
    assert message.status == SmsStatus.SENT
    assert not delivery._still_ours(
        slow_copy, claim="slow-worker", claimed_at=clock.current - timedelta(minutes=3)
    )
    assert sms_outbox.deliver() == []  # and nothing goes out a second time


def test_a_message_that_keeps_killing_workers_ends_up_failed(clock: FrozenClock) -> None:
    message = queue("+79161234567")
    for _ in range(8):  # claimed, then the worker dies before recording anything
        assert len(delivery._claim_batch(10, claim="doomed")) == 1
        clock.advance(minutes=3)
    assert delivery._claim_batch(10, claim="next") == []
    assert delivery.sweep_abandoned_messages() == 1
    message.refresh_from_db()
    assert (message.status, message.last_error) == (SmsStatus.FAILED, "abandoned by workers")
    assert message.text_ciphertext is None


def test_suppressed_messages_do_the_same_work_and_send_nothing(sms_outbox: SmsOutbox) -> None:
    """A member's number invited again, a recovery for a number without an account, a
    join link used with another number: a row is written, queued and taken by a worker
    all the same, never sent."""
    founder = make_member(role="founder")
    make_member(phone="+79165550001")
    do_invite_by_phone(inviter=founder, phone="+79165550001")
    do_start_recovery(phone="+79169999999")
    rows = OutboundSms.objects.order_by("id")
    assert list(rows.values_list("purpose", "status", "suppressed", "segments")) == [
        (SmsPurpose.INVITATION, SmsStatus.QUEUED, True, 1),
        (SmsPurpose.RECOVERY_CODE, SmsStatus.QUEUED, True, 1),
    ]
    assert sms_outbox.deliver() == []
    assert list(rows.values_list("status", "gateway", "attempts")) == [
        (SmsStatus.SUPPRESSED, "", 1)
    ] * 2
    assert None not in rows.values_list("sent_at", flat=True)
    assert not OutboundSms.objects.exclude(text_ciphertext=None).exists()


def test_the_sender_sees_the_same_for_a_members_number_and_a_strangers(
    sms_outbox: SmsOutbox,
) -> None:
    founder = make_member(phone="+79160000001", role="founder")
    make_member(phone="+79165550001")
    for phone in ("+79165550001", "+79165550002"):
        do_invite_by_phone(inviter=founder, phone=phone)
    client = Client()
    client.force_login(founder)

    def statuses() -> list[str]:
        page = client.get("/invitations/").content.decode()
        return re.findall(r'data-sms-status="(\w+)"', page)

    assert statuses() == [SmsStatusForSender.SENDING] * 2
    assert len(sms_outbox.deliver()) == 1  # the stranger's
    assert statuses() == [SmsStatusForSender.SENT] * 2


def test_while_the_gateway_is_down_the_sender_sees_the_same_for_a_members_number(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    """A suppressed SMS takes its gateway's state: while the gateway is down the
    invitation to a member's number waits, and fails at SMS_MAX_AGE, as a stranger's
    does, instead of showing as sent at once and so naming the member."""
    founder = make_member(phone="+79160000001", role="founder")
    make_member(phone="+79165550001")
    client = Client()
    client.force_login(founder)

    def statuses() -> list[str]:
        page = client.get("/invitations/").content.decode()
        return re.findall(r'data-sms-status="(\w+)"', page)

    sms_outbox.gateway.unavailable = True
    # In one batch (in either order: see the test below).
    for phone in ("+79165550002", "+79165550001"):
        do_invite_by_phone(inviter=founder, phone=phone)
    assert sms_outbox.deliver() == []
    assert statuses() == [SmsStatusForSender.SENDING] * 2
    make_member(phone="+79165550003")
    do_invite_by_phone(inviter=founder, phone="+79165550003")  # alone in its batch
    clock.advance(minutes=10)
    assert sms_outbox.deliver() == []
    assert statuses() == [SmsStatusForSender.SENDING] * 3
    clock.advance(seconds=settings.SMS_MAX_AGE.total_seconds())
    sms_outbox.deliver()
    assert statuses() == [SmsStatusForSender.NOT_DELIVERED] * 3

    # Back up: both kinds show as sent again.
    sms_outbox.gateway.unavailable = False
    clock.advance(days=8)  # the previous invitations have expired
    for phone in ("+79165550002", "+79165550001"):
        do_invite_by_phone(inviter=founder, phone=phone)
    assert len(sms_outbox.deliver()) == 1
    assert statuses()[:2] == [SmsStatusForSender.SENT] * 2


@pytest.mark.parametrize("first", ["member", "stranger"])
def test_at_the_start_of_an_outage_a_members_number_waits_wherever_it_is_in_the_batch(
    sms_outbox: SmsOutbox, first: str
) -> None:
    """The gateway has just gone down and no worker has met it yet: a member's number's
    suppressed SMS ahead of a stranger's real one in the batch waits as the stranger's
    does (the worker learns of the outage only from the real one), instead of showing
    as sent and so naming the member."""
    founder = make_member(phone="+79160000001", role="founder")
    make_member(phone="+79165550001")
    client = Client()
    client.force_login(founder)
    sms_outbox.gateway.unavailable = True
    numbers = ["+79165550001", "+79165550002"]  # the member's, the stranger's
    if first == "stranger":
        numbers.reverse()
    for phone in numbers:
        do_invite_by_phone(inviter=founder, phone=phone)
    assert deliver_due_messages(gateway=sms_outbox.gateway) == 2  # one batch
    page = client.get("/invitations/").content.decode()
    assert re.findall(r'data-sms-status="(\w+)"', page) == [SmsStatusForSender.SENDING] * 2
    rows = OutboundSms.objects.order_by("suppressed")
    assert list(rows.values_list("status", "failed_attempts", "last_error")) == [
        (SmsStatus.QUEUED, 1, "gateway unavailable")
    ] * 2


def test_suppressed_messages_cost_no_read_of_the_outages_each(
    sms_outbox: SmsOutbox, django_assert_num_queries: Any
) -> None:
    """Suppressed messages are decided after the batch's real ones: through a gateway a
    real one has just had an answer from, by that answer; in a batch without real ones,
    by the outages as its claim found them (a read of them only if it found one); in
    a batch whose real ones went through other gateways, by one read of the outages
    for all of them."""

    def suppressed(number: str) -> None:
        queue_sms(phone=normalize_phone_number(number), text="hello",
                  purpose=SmsPurpose.INVITATION, suppressed=True)

    for number in ("+79165550001", "+79165550002", "+79165550003"):
        suppressed(number)
    queue("+79165550004")
    with django_assert_num_queries(5):  # the claim, four records
        assert deliver_due_messages(gateway=sms_outbox.gateway) == 4
    for number in ("+79165550005", "+79165550006", "+79165550007"):
        suppressed(number)
    with django_assert_num_queries(4):  # the claim, three records
        assert deliver_due_messages(gateway=sms_outbox.gateway) == 3
    assert [sms.to for sms in sms_outbox.messages] == ["+79165550004"]
    assert list(OutboundSms.objects.order_by("id").values_list("status", flat=True)) == [
        SmsStatus.SUPPRESSED, SmsStatus.SUPPRESSED, SmsStatus.SUPPRESSED, SmsStatus.SENT,
    ] + [SmsStatus.SUPPRESSED] * 3


def test_a_suppressed_message_meets_an_outage_another_worker_found_during_its_batch(
    sms_outbox: SmsOutbox, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose real messages go through another gateway than a suppressed one's:
    the outages are read once they are sent, so an outage another worker met
    meanwhile holds the suppressed one back, first in the batch as it is."""
    from inviteonly.sms.gateways import get_gateway
    from inviteonly.sms.models import GatewayOutage

    settings.SMS_ROUTES = {"US": {"gateway": "console"}}
    console = get_gateway("console")
    send = console.send

    def send_while_another_worker_meets_the_outage(**kwargs: Any) -> Any:
        GatewayOutage.objects.create(
            gateway=sms_outbox.gateway.name, failed_at=timezone.now(), error="gateway unavailable"
        )
        return send(**kwargs)

    monkeypatch.setattr(console, "send", send_while_another_worker_meets_the_outage)
    held = queue_sms(phone=normalize_phone_number("+79165550001"), text="hello",
                     purpose=SmsPurpose.INVITATION, suppressed=True)
    queue("+12025550123", purpose=SmsPurpose.INVITATION)
    assert deliver_due_messages() == 2
    held.refresh_from_db()
    assert (held.status, held.failed_attempts, held.last_error) == (
        SmsStatus.QUEUED, 1, "gateway unavailable"
    )


def test_an_invitation_revoked_before_its_sms_went_out_is_never_sent(
    sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    """An inviter who revokes an invitation (a mistyped number) while its SMS waits for
    a gateway that is down: the stranger gets no text naming them, with a dead link,
    once the gateway is back. A member's number's (suppressed) ends alike."""
    founder = make_member(phone="+79160000001", role="founder")
    make_member(phone="+79165550001")
    client = Client()
    client.force_login(founder)
    sms_outbox.gateway.unavailable = True
    invitations = [
        do_invite_by_phone(inviter=founder, phone=phone)
        for phone in ("+79165550002", "+79165550001", "+79165550003")
    ]
    assert sms_outbox.deliver() == []
    for invitation in invitations[:2]:
        do_revoke_invitation(member=founder, invitation_id=invitation.id)
    sms_outbox.gateway.unavailable = False
    clock.advance(minutes=10)
    assert [sms.to for sms in sms_outbox.deliver()] == ["+79165550003"]
    revoked = OutboundSms.objects.filter(id__in=[invitations[0].sms_id, invitations[1].sms_id])
    assert {(message.status, message.text_ciphertext) for message in revoked} == {
        (SmsStatus.FAILED, None)
    }
    page = client.get("/invitations/").content.decode()
    assert re.findall(r'data-sms-status="(\w+)"', page) == [
        SmsStatusForSender.SENT, SmsStatusForSender.NOT_DELIVERED,
        SmsStatusForSender.NOT_DELIVERED,
    ]


def test_a_batch_reads_the_shared_outages_only_while_a_gateway_is_down(
    sms_outbox: SmsOutbox, django_assert_num_queries: Any
) -> None:
    """A worker learns which gateways other workers found down from its claim of the
    batch: while none is, a message costs its claim and its record, and no read of
    the outages besides (every registration's two SMS go through here)."""
    from inviteonly.sms.models import GatewayOutage

    queue("+79165550001")
    with django_assert_num_queries(2):  # the claim, the record
        deliver_due_messages(gateway=sms_outbox.gateway)
    GatewayOutage.objects.create(gateway="other", failed_at=timezone.now(), error="down")
    queue("+79165550002")
    with django_assert_num_queries(3):  # and, with an outage known, its rows
        deliver_due_messages(gateway=sms_outbox.gateway)
    assert [sms.to for sms in sms_outbox.messages] == ["+79165550001", "+79165550002"]


def test_a_gateway_down_for_one_worker_is_down_for_every_worker(
    sms_outbox: SmsOutbox, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two worker processes, each with its own memory: a suppressed SMS taken by a
    worker that has not met the outage itself waits as the real ones do (shown as sent,
    it would name a member's number while strangers' wait); and once any worker has
    seen the gateway back, even one that never saw it down, a suppressed SMS taken by
    another is not held back."""
    monkeypatch.setattr(delivery.secrets, "randbelow", lambda _bound: 0)  # no jitter
    first: dict[str, object] = {}
    second: dict[str, object] = {}
    third: dict[str, object] = {}

    def work(memory: dict[str, object]) -> None:
        # The module's memory is a worker process's own: each worker has its own.
        with monkeypatch.context() as patched:
            patched.setattr(delivery, "_gateway_down", memory)
            deliver_due_messages(gateway=sms_outbox.gateway)

    def suppressed(number: str) -> OutboundSms:
        return queue_sms(phone=normalize_phone_number(number), text="hello",
                         purpose=SmsPurpose.INVITATION, suppressed=True)

    sms_outbox.gateway.unavailable = True
    real = queue("+79165550002", purpose=SmsPurpose.INVITATION)
    work(first)  # meets the gateway down
    held = suppressed("+79165550001")
    work(second)  # has sent nothing yet
    held.refresh_from_db()
    assert (held.status, held.failed_attempts) == (SmsStatus.QUEUED, 1)
    assert held.last_error == "gateway unavailable"  # what the real one got

    sms_outbox.gateway.unavailable = False
    real.refresh_from_db()
    held.refresh_from_db()
    assert held.next_attempt_at == real.next_attempt_at  # the real one first, by its id
    clock.current = real.next_attempt_at
    work(third)  # new: the gateway is back, the real one goes out, the suppressed one ends
    assert [sms.to for sms in sms_outbox.messages] == ["+79165550002"]
    assert set(OutboundSms.objects.values_list("status", flat=True)) == {
        SmsStatus.SENT, SmsStatus.SUPPRESSED
    }
    later = suppressed("+79165550003")
    work(first)  # last met the gateway down, within the longest retry delay
    later.refresh_from_db()
    assert later.status == SmsStatus.SUPPRESSED


def test_between_a_real_messages_retries_a_members_number_still_waits(
    sms_outbox: SmsOutbox, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real message waiting on a gateway that is down is tried again up to 1.5 times
    the longest delay later (the jitter): until then the gateway is still down, and an
    invitation to a member's number queued meanwhile must wait too, not show as sent
    beside a stranger's that waits."""
    monkeypatch.setattr(delivery.secrets, "randbelow", lambda _bound: 999)  # jitter 1.499
    founder = make_member(phone="+79160000001", role="founder")
    make_member(phone="+79165550001")
    client = Client()
    client.force_login(founder)
    sms_outbox.gateway.unavailable = True
    do_invite_by_phone(inviter=founder, phone="+79165550002")
    stranger = OutboundSms.objects.get()
    while stranger.failed_attempts < 10:  # backed off to the longest delay
        clock.current = stranger.next_attempt_at
        assert sms_outbox.deliver() == []
        stranger.refresh_from_db()
    failed_at = clock.current
    assert stranger.next_attempt_at - failed_at > settings.SMS_RETRY_MAX_DELAY * 1.4
    clock.current = failed_at + settings.SMS_RETRY_MAX_DELAY + timedelta(seconds=30)
    do_invite_by_phone(inviter=founder, phone="+79165550001")  # alone in its batch
    assert sms_outbox.deliver() == []
    page = client.get("/invitations/").content.decode()
    assert re.findall(r'data-sms-status="(\w+)"', page) == [SmsStatusForSender.SENDING] * 2


def test_a_failing_sweep_does_not_hold_up_delivery(
    sms_outbox: SmsOutbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    queue_sms(phone=normalize_phone_number("+79161234567"), text="Code 123456",
              purpose=SmsPurpose.JOIN_CODE)

    def broken_sweep(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the sweep's table is missing")

    monkeypatch.setattr(delivery, "call_command", broken_sweep)
    # Not inside the test's transaction: closing it would end the test database.
    monkeypatch.setattr(delivery, "close_old_connections", lambda: None)

    class StopOnceSent(threading.Event):
        """Stops the worker as soon as the message is out (or after a few rounds)."""

        rounds = 0

        def is_set(self) -> bool:
            self.rounds += 1
            return self.rounds > 3 or OutboundSms.objects.filter(status=SmsStatus.SENT).exists()

    delivery.run_delivery_worker(StopOnceSent())
    assert OutboundSms.objects.get().status == SmsStatus.SENT
    assert "Sweep failed" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_workers_claiming_at_once_never_take_the_same_message() -> None:
    queued = {queue(f"+7916555{index:04d}").id for index in range(30)}
    claimed: list[list[int]] = [[] for _ in range(10)]

    def claim(slot: int) -> None:
        claimed[slot] = [message.id for message in
                         delivery._claim_batch(5, claim=f"worker-{slot}")]

    assert race([partial(claim, slot) for slot in range(10)]) == ["joined"] * 10
    everything = [message_id for batch in claimed for message_id in batch]
    assert sorted(everything) == sorted(queued)  # each once, none left behind
    for slot, batch in enumerate(claimed):
        assert set(OutboundSms.objects.filter(id__in=batch).values_list("claim", flat=True)) \
            <= {f"worker-{slot}"}


def test_a_claim_writes_its_lease_as_the_orm_would(clock: FrozenClock) -> None:
    # The claim is hand-written SQL: the lease it stores must read back, and match,
    # exactly as a datetime the ORM wrote (SQLite keeps them as text).
    message = queue("+79161234567")
    [claimed] = delivery._claim_batch(10, claim="worker")
    lease_end = clock.current + settings.SMS_SEND_LEASE
    assert (claimed.attempts, claimed.claim, claimed.next_attempt_at) == (1, "worker", lease_end)
    assert OutboundSms.objects.filter(id=message.id, next_attempt_at=lease_end).exists()


@pytest.mark.django_db(transaction=True)
def test_a_claim_on_its_own_does_not_wait_for_the_disk_on_postgresql() -> None:
    """Its loss in a crash of the database server only sends the message again; the
    record of the gateway's answer, which waits, takes it to disk. Only its own
    transaction is affected: the session's setting, and a claim made inside a
    caller's transaction (whose other writes may need the disk), are left alone."""
    queue("+79161234567")
    queue("+79161234568")
    claims: list[str] = []

    def watch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("UPDATE sms_outboundsms SET status"):
            claims.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        [first] = delivery._claim_batch(1, claim="worker")
        with transaction.atomic():
            [second] = delivery._claim_batch(1, claim="worker")
    assert (first.claim, second.claim) == ("worker", "worker")
    on_postgresql = connection.vendor == "postgresql"
    assert ["synchronous_commit" in sql for sql in claims] == [on_postgresql, False]
    if on_postgresql:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)


def test_the_sweep_removes_outages_of_gateways_no_longer_configured_or_long_past(
    clock: FrozenClock,
) -> None:
    """An outage row of a gateway the operator took out of the configuration (or whose
    failure is older than any retry it could hold back) would otherwise stay for
    ever: every batch's claim would find a gateway down and read the outages again."""
    from django.core.management import call_command
    from django.test import override_settings

    from inviteonly.sms.models import GatewayOutage

    now = clock.current
    GatewayOutage.objects.bulk_create([
        GatewayOutage(gateway="memory", failed_at=now, error="down"),  # SMS_GATEWAY
        GatewayOutage(gateway="kannel", failed_at=now, error="down"),  # a route's
        GatewayOutage(gateway="smpp", failed_at=now, error="down"),  # removed
        GatewayOutage(gateway="twilio", failed_at=now - settings.SMS_RETRY_MAX_DELAY * 2,
                      error="down"),  # configured, but long past
    ])
    with override_settings(SMS_ROUTES={"US": {"gateway": "kannel"}, "GB": {"gateway": "twilio"}}):
        call_command("sweep", verbosity=0)
    assert set(GatewayOutage.objects.values_list("gateway", flat=True)) == {"memory", "kannel"}
