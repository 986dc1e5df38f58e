"""Per-number login throttling: free typos, then growing waits from 30 s to an hour,
recovery required after 100 failures in a row, reset by success or recovery — and the
same for numbers without an account."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from inviteonly.abuse.login_throttle import wait_after
from inviteonly.abuse.models import LoginThrottle
from inviteonly.accounts.actions import (
    authenticate_member,
    do_confirm_join,
    do_confirm_recovery,
    do_start_join,
    do_start_recovery,
)
from inviteonly.accounts.models import Member
from inviteonly.invitations.actions import do_invite_by_phone
from inviteonly.invitations.queries import access_invitation_by_token
from inviteonly.lib.errors import ActionError
from tests.conftest import PASSWORD, FrozenClock, SmsOutbox, make_member
from tests.test_concurrency import race

pytestmark = pytest.mark.django_db

MEMBER = "+79165550001"
NEWCOMER = "+79165550042"


def fail(phone: str = MEMBER) -> str:
    with pytest.raises(ActionError) as refused:
        authenticate_member(phone=phone, password="not the password")
    return refused.value.code


def test_waits_grow_from_thirty_seconds_to_an_hour() -> None:
    assert [wait_after(n) for n in range(1, 4)] == [None, None, None]  # three free typos
    assert wait_after(4) == timedelta(seconds=30)
    assert wait_after(5) == timedelta(seconds=60)
    assert wait_after(10) == timedelta(seconds=30 * 2**6)
    assert wait_after(11) == timedelta(hours=1)  # 30 s × 2⁷ would be longer
    assert wait_after(99) == timedelta(hours=1)


def test_after_three_typos_the_number_must_wait(clock: FrozenClock) -> None:
    make_member(phone=MEMBER)
    assert [fail() for _ in range(4)] == ["login_failed"] * 4  # the 4th sets a wait
    with pytest.raises(ActionError) as refused:
        authenticate_member(phone=MEMBER, password=PASSWORD)  # even the right password
    assert (refused.value.code, refused.value.status) == ("login_throttled", 429)
    assert refused.value.retry_after == 30
    clock.advance(seconds=30)
    assert fail() == "login_failed"  # the 5th failure: now a minute
    clock.advance(seconds=59)
    assert fail() == "login_throttled"
    clock.advance(seconds=1)
    assert authenticate_member(phone=MEMBER, password=PASSWORD).member.phone_masked.endswith("01")
    assert [fail() for _ in range(4)] == ["login_failed"] * 4  # success reset the count


def test_strangers_numbers_are_throttled_alike(clock: FrozenClock) -> None:
    make_member(phone=MEMBER)
    member_codes = [fail(MEMBER) for _ in range(5)]
    stranger_codes = [fail("+79169999999") for _ in range(5)]
    assert member_codes == stranger_codes == ["login_failed"] * 4 + ["login_throttled"]


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)  # 100 by default; each costs a hash
def test_too_many_failures_in_a_row_require_recovery(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    make_member(phone=MEMBER)
    for _ in range(12):
        assert fail() == "login_failed"
        clock.advance(hours=1)
    assert fail() == "login_locked"
    clock.advance(days=30)
    assert fail() == "login_locked"
    # Recovery still works while login is locked, and unlocks it.
    started = do_start_recovery(phone=MEMBER)
    do_confirm_recovery(
        verification_id=started.verification.id, code=sms_outbox.code_for(MEMBER),
        new_password="a brand new passphrase",
    )
    assert authenticate_member(phone=MEMBER, password="a brand new passphrase")


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_failures_typed_before_a_number_joined_do_not_lock_out_its_member(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """Joining proves the number by its code, as recovery does; guesses anyone typed
    for it while it had no account no longer count."""
    for _ in range(12):  # someone guesses at a number that is not a member's yet
        assert fail(NEWCOMER) == "login_failed"
        clock.advance(hours=1)
    assert fail(NEWCOMER) == "login_locked"
    do_invite_by_phone(inviter=founder, phone=NEWCOMER)
    started = do_start_join(
        invitation=access_invitation_by_token(sms_outbox.join_token_for(NEWCOMER)),
        phone=NEWCOMER, display_name="Newcomer", password=PASSWORD, language="en",
    )
    do_confirm_join(verification_id=started.verification.id,
                    code=sms_outbox.code_for(NEWCOMER))
    assert authenticate_member(phone=NEWCOMER, password=PASSWORD).member.display_name == "Newcomer"
    assert fail(NEWCOMER) == "login_failed"  # counted afresh from here


@pytest.mark.django_db(transaction=True)
def test_simultaneous_guesses_are_counted_before_the_password_is_checked() -> None:
    make_member(phone=MEMBER)
    outcomes = race([partial(fail_quietly, MEMBER) for _ in range(12)])
    assert sorted(outcomes) == ["login_failed"] * 4 + ["login_throttled"] * 8


def fail_quietly(phone: str) -> None:
    authenticate_member(phone=phone, password="not the password")


@override_settings(LOGIN_MAX_CONSECUTIVE_FAILURES=12)
def test_the_sweep_forgets_failures_nobody_repeated_for_thirty_days_short_of_a_lockout(
    clock: FrozenClock,
) -> None:
    """Every number ever typed at the login form had a row for good: the table grew with
    each guess at a random number. A number's failures go once nobody has failed with
    it for 30 days; a lockout stays until a recovery ends it."""
    make_member(phone=MEMBER)
    assert [fail("+79169999999"), fail(NEWCOMER)] == ["login_failed"] * 2  # typed once
    for _ in range(12):  # locked: only a recovery unlocks it
        assert fail() == "login_failed"
        clock.advance(hours=1)
    clock.advance(days=29, hours=12)
    assert fail(NEWCOMER) == "login_failed"  # typed again: 30 days from now
    clock.advance(hours=1)
    call_command("sweep", stdout=StringIO())
    assert LoginThrottle.objects.count() == 2  # the lockout and the number typed again
    assert fail() == "login_locked"
    # Its two failures are remembered: the fourth makes the fifth wait.
    assert [fail(NEWCOMER) for _ in range(3)] == ["login_failed"] * 2 + ["login_throttled"]
    assert [fail("+79169999999") for _ in range(4)] == ["login_failed"] * 4  # afresh
