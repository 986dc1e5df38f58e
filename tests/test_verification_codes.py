"""Confirmation codes: secret, stored as HMACs, ten minutes, five tries, single use."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
from django.db import transaction

from inviteonly.accounts.actions import (
    do_confirm_join,
    do_confirm_recovery,
    do_start_join,
    do_start_recovery,
)
from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.actions import do_create_founder_invitation, do_invite_by_phone
from inviteonly.invitations.queries import access_invitation_by_token
from inviteonly.lib.errors import ActionError
from inviteonly.phone_verification.actions import (
    StartedVerification,
    _code_digest,
    check_verification_code,
    verification_token_digest,
)
from inviteonly.phone_verification.models import PhoneVerification, VerificationPurpose
from tests.conftest import PASSWORD, FrozenClock, SmsOutbox, assert_read_like_the_orm, make_member

pytestmark = pytest.mark.django_db

NUMBER = "+79161234567"


def start_join(founder: Member, sms_outbox: SmsOutbox) -> StartedVerification:
    do_invite_by_phone(inviter=founder, phone=NUMBER)
    invitation = access_invitation_by_token(sms_outbox.join_token_for(NUMBER))
    return do_start_join(
        invitation=invitation, phone=NUMBER, display_name="Boris", password=PASSWORD,
        language="en",
    )


def wrong_code(right: str) -> str:
    return f"{(int(right) + 1) % 10**6:06d}"


def test_code_is_six_digits_and_stored_only_as_hmac(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    started = start_join(founder, sms_outbox)
    code = sms_outbox.code_for(NUMBER)
    assert len(code) == 6 and code.isdigit()
    verification = PhoneVerification.objects.get()
    assert verification.code_digest == _code_digest(verification.token_digest, code)
    assert verification.token_digest == verification_token_digest(started.token)
    assert started.token != verification.token_digest


def test_five_wrong_codes_kill_the_code(founder: Member, sms_outbox: SmsOutbox) -> None:
    started = start_join(founder, sms_outbox)
    code = sms_outbox.code_for(NUMBER)
    remaining_messages = []
    for _ in range(5):
        with pytest.raises(ActionError) as refused:
            do_confirm_join(verification_id=started.verification.id, code=wrong_code(code))
        remaining_messages.append(refused.value.code)
    assert remaining_messages == ["code_wrong"] * 4 + ["code_exhausted"]
    with pytest.raises(ActionError) as refused:
        do_confirm_join(verification_id=started.verification.id, code=code)
    assert refused.value.code == "code_expired"
    assert not Member.objects.filter(display_name="Boris").exists()


def test_wrong_try_says_how_many_remain(founder: Member, sms_outbox: SmsOutbox) -> None:
    started = start_join(founder, sms_outbox)
    with pytest.raises(ActionError) as refused:
        do_confirm_join(
            verification_id=started.verification.id, code=wrong_code(sms_outbox.code_for(NUMBER))
        )
    assert "4 more tries" in str(refused.value.message)


def test_code_expires_after_ten_minutes(
    founder: Member, sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    started = start_join(founder, sms_outbox)
    code = sms_outbox.code_for(NUMBER)  # sent at once: a dead code's SMS is never sent
    clock.advance(minutes=10, seconds=1)
    with pytest.raises(ActionError) as refused:
        do_confirm_join(verification_id=started.verification.id, code=code)
    assert refused.value.code == "code_expired"


def test_code_within_ten_minutes_works_and_only_once(
    founder: Member, sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    started = start_join(founder, sms_outbox)
    clock.advance(minutes=9, seconds=59)
    code = sms_outbox.code_for(NUMBER)
    member = do_confirm_join(verification_id=started.verification.id, code=code)
    assert member.display_name == "Boris"
    with pytest.raises(ActionError) as refused:
        do_confirm_join(verification_id=started.verification.id, code=code)
    assert refused.value.code == "code_expired"
    verification = PhoneVerification.objects.get()
    assert verification.consumed_at is not None
    assert verification.pending_password_hash == ""


@pytest.mark.parametrize("typed", ["12345", "1234567", "abcdef", ""])
def test_malformed_code_is_refused_without_using_a_try(
    founder: Member, sms_outbox: SmsOutbox, typed: str
) -> None:
    started = start_join(founder, sms_outbox)
    with pytest.raises(ActionError) as refused:
        do_confirm_join(verification_id=started.verification.id, code=typed)
    assert refused.value.code == "code_malformed"
    assert PhoneVerification.objects.get().failed_attempts == 0


def test_code_typed_with_spaces_is_accepted(founder: Member, sms_outbox: SmsOutbox) -> None:
    started = start_join(founder, sms_outbox)
    code = sms_outbox.code_for(NUMBER)
    typed = f" {code[:3]} {code[3:]} "
    member = do_confirm_join(verification_id=started.verification.id, code=typed)
    assert member.phone_masked == "+7 916 ***-**-67"


def test_codes_differ_between_verifications(founder: Member, sms_outbox: SmsOutbox) -> None:
    codes = set()
    for index in range(8):
        number = f"+7916555{index:04d}"
        do_invite_by_phone(inviter=founder, phone=number)
        invitation = access_invitation_by_token(sms_outbox.join_token_for(number))
        do_start_join(
            invitation=invitation, phone=number, display_name="X", password=PASSWORD,
            language="en",
        )
        codes.add(sms_outbox.code_for(number))
    assert len(codes) >= 7  # one collision in a million is allowed, eight identical are not


def test_a_new_code_replaces_the_open_one(founder: Member, sms_outbox: SmsOutbox) -> None:
    first = start_join(founder, sms_outbox)
    first_code = sms_outbox.code_for(NUMBER)
    first_join_token = sms_outbox.join_tokens_for(NUMBER)[0]
    invitation = access_invitation_by_token(first_join_token)
    second = do_start_join(
        invitation=invitation, phone=NUMBER, display_name="Boris", password=PASSWORD,
        language="en",
    )
    with pytest.raises(ActionError) as refused:
        do_confirm_join(verification_id=first.verification.id, code=first_code)
    assert refused.value.code == "code_expired"
    member = do_confirm_join(
        verification_id=second.verification.id, code=sms_outbox.code_for(NUMBER)
    )
    assert member.display_name == "Boris"


def test_past_the_daily_cap_each_new_code_gets_one_try(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    make_member(phone="+79165550001")

    def confirm(started: StartedVerification, code: str) -> str:
        with pytest.raises(ActionError) as refused:
            do_confirm_recovery(
                verification_id=started.verification.id, code=code,
                new_password="a brand new passphrase",
            )
        return refused.value.code

    for _ in range(2):  # two codes, five wrong tries each: the number's daily cap of 10
        started = do_start_recovery(phone="+79165550001")
        code = sms_outbox.code_for("+79165550001")
        assert [confirm(started, wrong_code(code)) for _ in range(5)] == (
            ["code_wrong"] * 4 + ["code_exhausted"]
        )
    # A guesser now gets one guess per SMS, and is told so: no tries are promised...
    started = do_start_recovery(phone="+79165550001")
    code = sms_outbox.code_for("+79165550001")
    with pytest.raises(ActionError) as refused:
        do_confirm_recovery(
            verification_id=started.verification.id, code=wrong_code(code),
            new_password="a brand new passphrase",
        )
    assert (refused.value.code, refused.value.status) == ("code_failures_exhausted", 410)
    assert str(refused.value.message) == (
        "Too many wrong codes for this number. This code no longer works; ask for a new "
        "one and type it carefully."
    )
    assert confirm(started, code) == "code_failures_exhausted"
    # ...and the owner, typing the code from the SMS, still gets in.
    started = do_start_recovery(phone="+79165550001")
    do_confirm_recovery(
        verification_id=started.verification.id, code=sms_outbox.code_for("+79165550001"),
        new_password="a brand new passphrase",
    )


def answers_past_the_daily_cap(
    start: Callable[[], StartedVerification],
    confirm: Callable[[StartedVerification, str], object],
    phone: str,
    sms_outbox: SmsOutbox,
) -> list[str]:
    """The refusals of three codes to ``phone``, wrong each time: five tries, five, two."""
    answers = []
    for tries in (5, 5, 2):
        before = len(sms_outbox.to(phone))
        started = start()
        sent = len(sms_outbox.to(phone)) > before
        # A decoy sends no SMS; any code is wrong for it.
        code = wrong_code(sms_outbox.code_for(phone)) if sent else "000000"
        for _ in range(tries):
            with pytest.raises(ActionError) as refused:
                confirm(started, code)
            answers.append(refused.value.code)
    return answers


FIVE_WRONG = ["code_wrong"] * 4 + ["code_exhausted"]
# Past the number's daily cap of ten, a new code gets one try.
PAST_THE_CAP = [*FIVE_WRONG, *FIVE_WRONG, "code_failures_exhausted", "code_failures_exhausted"]


def test_the_daily_cap_answers_alike_for_a_members_number_and_a_strangers(
    sms_outbox: SmsOutbox,
) -> None:
    make_member(phone="+79165550001")

    def confirm(started: StartedVerification, code: str) -> object:
        return do_confirm_recovery(
            verification_id=started.verification.id, code=code,
            new_password="a brand new passphrase",
        )

    for phone in ("+79165550001", "+79169999999"):
        assert answers_past_the_daily_cap(
            partial(do_start_recovery, phone=phone), confirm, phone, sms_outbox
        ) == PAST_THE_CAP, phone


def test_the_daily_cap_answers_alike_for_the_invited_number_and_any_other(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    do_invite_by_phone(inviter=founder, phone=NUMBER)
    invitation = access_invitation_by_token(sms_outbox.join_token_for(NUMBER))

    def start(phone: str) -> StartedVerification:
        return do_start_join(
            invitation=invitation, phone=phone, display_name="Eve", password=PASSWORD,
            language="en",
        )

    def confirm(started: StartedVerification, code: str) -> object:
        return do_confirm_join(verification_id=started.verification.id, code=code)

    for phone in (NUMBER, "+79165550009"):
        assert answers_past_the_daily_cap(
            partial(start, phone), confirm, phone, sms_outbox
        ) == PAST_THE_CAP, phone


def test_a_second_recovery_replaces_the_first_for_members_and_strangers_alike(
    sms_outbox: SmsOutbox,
) -> None:
    make_member(phone="+79165550001")
    answers = []
    for phone in ("+79165550001", "+79169999999"):
        first = do_start_recovery(phone=phone)
        do_start_recovery(phone=phone)
        with pytest.raises(ActionError) as refused:
            do_confirm_recovery(
                verification_id=first.verification.id, code="000000",
                new_password="a brand new passphrase",
            )
        answers.append((refused.value.code, refused.value.status))
    assert answers[0] == answers[1] == ("code_expired", 410)


def test_a_strangers_decoy_guesses_do_not_lock_the_invitee_out(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    do_invite_by_phone(inviter=founder, phone=NUMBER)
    invitation = access_invitation_by_token(sms_outbox.join_token_for(NUMBER))
    real = do_start_join(
        invitation=invitation, phone=NUMBER, display_name="Boris", password=PASSWORD,
        language="en",
    )
    code = sms_outbox.code_for(NUMBER)
    # Someone with another link types the invitee's number and guesses, many times.
    _other, other_token = do_create_founder_invitation(phone="+79165550009")
    other = access_invitation_by_token(other_token)
    for _ in range(3):
        decoy = do_start_join(
            invitation=other, phone=NUMBER, display_name="Eve", password=PASSWORD,
            language="en",
        )
        for _ in range(5):
            with pytest.raises(ActionError):
                do_confirm_join(verification_id=decoy.verification.id, code="000000")
    member = do_confirm_join(verification_id=real.verification.id, code=code)
    assert member.display_name == "Boris"


def test_wrong_codes_are_audited(founder: Member, sms_outbox: SmsOutbox) -> None:
    started = start_join(founder, sms_outbox)
    with pytest.raises(ActionError):
        do_confirm_join(
            verification_id=started.verification.id, code=wrong_code(sms_outbox.code_for(NUMBER))
        )
    entry = AuditEntry.objects.get(action=AuditAction.CODE_REJECTED)
    assert entry.details == {"phone_masked": "+7 916 ***-**-67", "purpose": "join", "attempt": 1}


def test_recovery_code_for_a_number_without_account_never_succeeds(
    sms_outbox: SmsOutbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("inviteonly.lib.tokens.new_code", lambda: "123456")
    started = do_start_recovery(phone="+79169999999")
    assert sms_outbox.deliver() == []
    with pytest.raises(ActionError) as refused:
        do_confirm_recovery(
            verification_id=started.verification.id, code="123456",
            new_password="a brand new passphrase",
        )
    assert refused.value.code == "code_wrong"


def test_member_banned_after_asking_for_a_code_cannot_finish_recovery(
    sms_outbox: SmsOutbox,
) -> None:
    member = make_member(phone="+79165550001")
    started = do_start_recovery(phone="+79165550001")
    Member.objects.filter(id=member.id).update(status=Member.Status.BANNED)
    with pytest.raises(ActionError) as refused:
        do_confirm_recovery(
            verification_id=started.verification.id, code=sms_outbox.code_for("+79165550001"),
            new_password="a brand new passphrase",
        )
    assert refused.value.code == "account_restricted"
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_a_checked_verification_carries_what_the_orm_reads(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    # check_verification_code reads with hand-written SQL (lib/queries.py): the
    # verification, its invitation, the inviter and the member, each as the ORM would.
    joining = start_join(founder, sms_outbox)
    make_member(phone="+79165550123")
    recovering = do_start_recovery(phone="+79165550123")
    for started, purpose, phone in (
        (joining, VerificationPurpose.JOIN, NUMBER),
        (recovering, VerificationPurpose.RECOVERY, "+79165550123"),
    ):
        with transaction.atomic():
            check = check_verification_code(
                verification_id=started.verification.id, purpose=purpose,
                code=sms_outbox.code_for(phone),
            )
        read = check.verification
        assert read is not None
        orm = PhoneVerification.objects.select_related(
            "invitation__inviter", "member").get(id=read.id)
        assert_read_like_the_orm(read, orm)
        assert_read_like_the_orm(read.invitation, orm.invitation)
        assert_read_like_the_orm(read.member, orm.member)
        if orm.invitation is not None:
            assert read.invitation is not None
            assert_read_like_the_orm(read.invitation.inviter, orm.invitation.inviter)
