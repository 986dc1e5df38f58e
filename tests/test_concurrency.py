"""Races: one invitation token redeemed by 20 requests at once makes exactly one member;
two members writing to, befriending and blocking each other at once; one idempotency
key sent by many requests at once writes one post or message; a login meeting a
ban leaves no session behind it; members moving to one number at once leave it to one;
moderation actions meeting on the same members never deadlock (they lock in one order:
moderation.actions); a report sent again as it is dismissed stays refused; nothing
written to or by a member leaving the network outlives the leave."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password
from django.db import connection, transaction
from django.db.models import Q
from django.test import override_settings

from inviteonly.accounts import actions as account_actions
from inviteonly.accounts.actions import (
    do_confirm_join,
    do_confirm_phone_change,
    do_confirm_recovery,
    do_start_join,
    do_start_phone_change,
    do_start_recovery,
)
from inviteonly.accounts.models import Member, MemberSession
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.actions import (
    create_invitation,
    do_create_founder_invitation,
    do_invite_by_phone,
)
from inviteonly.invitations.branch_actions import (
    BranchAction,
    do_apply_branch_action,
    preview_branch_action,
)
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.queries import access_invitation_by_token
from inviteonly.lib import clock
from inviteonly.lib.crypto import blind_index
from inviteonly.lib.errors import ActionError
from inviteonly.lib.phone_numbers import normalize_phone_number
from inviteonly.moderation.actions import (
    do_ban_member,
    do_lift_sanction,
    do_report_item,
    do_resolve_reports,
    do_set_status_as_operator,
)
from inviteonly.moderation.models import Report, Sanction, SanctionKind
from inviteonly.notifications.models import Notification
from inviteonly.phone_verification.models import PhoneVerification
from inviteonly.social import actions as social_actions
from inviteonly.social.actions import (
    do_accept_friend_request,
    do_block_member,
    do_post_on_wall,
    do_send_friend_request,
    do_send_message,
    do_update_profile,
)
from inviteonly.social.models import (
    Block,
    Conversation,
    FriendRequest,
    Friendship,
    IdempotencyKey,
    Message,
    Participant,
    Profile,
    WallPost,
)
from tests.conftest import PASSWORD, ApiClient, SmsOutbox, make_member
from tests.social_helpers import SETTLED, befriend

RACERS = 20


def race(attempts: list[Callable[[], object]]) -> list[str]:
    """Run the attempts at the same instant, each in its own thread and connection."""
    barrier = threading.Barrier(len(attempts))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(attempt: Callable[[], object]) -> None:
        try:
            barrier.wait()
            attempt()
            outcome = "joined"
        except ActionError as error:
            outcome = error.code
        except Exception as error:
            outcome = f"crash: {error!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == len(attempts)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_submits_of_one_code_create_one_member(
    sms_outbox: SmsOutbox,
) -> None:
    founder = make_member(role=Member.Role.FOUNDER)
    do_invite_by_phone(inviter=founder, phone="+79161234567")
    invitation = access_invitation_by_token(sms_outbox.join_token_for("+79161234567"))
    started = do_start_join(
        invitation=invitation, phone="+79161234567", display_name="Boris", password=PASSWORD,
        language="en",
    )
    code = sms_outbox.code_for("+79161234567")

    def submit() -> Member:
        return do_confirm_join(verification_id=started.verification.id, code=code)

    outcomes = race([submit] * RACERS)
    assert outcomes.count("joined") == 1, outcomes
    assert set(outcomes) <= {"joined", "code_expired"}, outcomes
    assert Member.objects.exclude(id=founder.id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_recovery_code_gives_five_tries_and_one_new_password_to_twenty_at_once(
    sms_outbox: SmsOutbox,
) -> None:
    member = make_member(phone="+79161234567")
    guessed = do_start_recovery(phone="+79161234567")
    code = sms_outbox.code_for("+79161234567")
    wrong = "000000" if code != "000000" else "111111"
    guesses = race([partial(
        do_confirm_recovery, verification_token=guessed.token, code=wrong,
        new_password="a brand new passphrase",
    )] * RACERS)
    assert sorted(set(guesses)) == ["code_exhausted", "code_expired", "code_wrong"], guesses
    assert (guesses.count("code_wrong"), guesses.count("code_exhausted")) == (4, 1)
    assert PhoneVerification.objects.get(id=guessed.verification.id).failed_attempts == 5

    started = do_start_recovery(phone="+79161234567")
    code = sms_outbox.code_for("+79161234567")
    outcomes = race([partial(
        do_confirm_recovery, verification_token=started.token, code=code,
        new_password=f"a brand new passphrase {racer}",
    ) for racer in range(RACERS)])
    assert outcomes.count("joined") == 1, outcomes
    assert set(outcomes) <= {"joined", "code_expired"}, outcomes
    assert AuditEntry.objects.filter(
        action=AuditAction.PASSWORD_RECOVERED, target_member=member
    ).count() == 1
    password = Member.objects.get(id=member.id).password
    assert sum(check_password(f"a brand new passphrase {racer}", password)
               for racer in range(RACERS)) == 1


def confirmation_of(
    invitation: Invitation, number: str, sms_outbox: SmsOutbox, *, name: str
) -> Callable[[], object]:
    """Start joining with ``number``; return the confirmation, ready to race."""
    started = do_start_join(
        invitation=invitation, phone=number, display_name=name, password=PASSWORD,
        language="en",
    )
    return partial(
        do_confirm_join,
        verification_id=started.verification.id,
        code=sms_outbox.code_for(number),
    )


@pytest.mark.django_db(transaction=True)
def test_twenty_numbers_racing_for_one_token_create_one_member(sms_outbox: SmsOutbox) -> None:
    _invitation, token = do_create_founder_invitation()  # any number may redeem it
    invitation = access_invitation_by_token(token)
    attempts = [
        confirmation_of(invitation, f"+7916555{index:04d}", sms_outbox, name=f"Racer {index}")
        for index in range(RACERS)
    ]

    outcomes = race(attempts)
    assert outcomes.count("joined") == 1, outcomes
    assert set(outcomes) <= {"joined", "invitation_used"}, outcomes
    assert Member.objects.count() == 1
    redeemed = Invitation.objects.get()
    assert redeemed.redeemed_by is not None
    assert redeemed.redeemed_by.display_name.startswith("Racer")


@pytest.mark.django_db(transaction=True)
def test_daily_member_cap_lets_exactly_the_cap_through_and_half_creates_nothing(
    sms_outbox: SmsOutbox,
) -> None:
    with override_settings(NEW_MEMBERS_PER_DAY=3):
        attempts: list[Callable[[], object]] = []
        founder = make_member(role=Member.Role.FOUNDER)
        for index in range(10):
            number = f"+7916777{index:04d}"
            do_invite_by_phone(inviter=founder, phone=number)
            invitation = access_invitation_by_token(sms_outbox.join_token_for(number))
            attempts.append(
                confirmation_of(invitation, number, sms_outbox, name=f"Racer {index}")
            )
        outcomes = race(attempts)
    assert outcomes.count("joined") == 3, outcomes
    assert outcomes.count("daily_member_cap") == 7, outcomes
    assert Member.objects.exclude(id=founder.id).count() == 3
    # The refused joins left nothing behind: their invitations and codes are untouched.
    assert Invitation.objects.filter(redeemed_at__isnull=False).count() == 3
    assert PhoneVerification.objects.filter(consumed_at__isnull=True).count() == 7


def wait_for_a_lock_waiter(seconds: float = 10) -> None:
    """Until another connection waits for a row lock (PostgreSQL); SQLite has no row
    locks: a moment for the other connection to start waiting for the write lock."""
    if connection.vendor != "postgresql":
        time.sleep(0.3)
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            row = cursor.fetchone()
        if row and row[0]:
            return
        time.sleep(0.02)
    raise AssertionError("the second invitation never waited for the inviter's lock")


@pytest.mark.django_db(transaction=True)
def test_an_invitation_waiting_for_its_inviters_lock_sees_the_one_before_it() -> None:
    """Two invitations from one inviter to one number at once: the second waits for
    the first's lock on the inviter, then finds the first pending, whatever store the
    rate limits count in (create_invitation's own lock, not a counter row, decides)."""
    founder = make_member(role=Member.Role.FOUNDER)
    number = normalize_phone_number("+79161112233")
    holding = threading.Event()
    outcomes: dict[str, str] = {}

    def invite(name: str) -> None:
        try:
            with transaction.atomic():
                create_invitation(inviter=founder, number=number, note="", ip_address=None)
                if name == "first":
                    holding.set()
                    wait_for_a_lock_waiter()
            outcomes[name] = "invited"
        except ActionError as error:
            outcomes[name] = error.code
        finally:
            holding.set()
            connection.close()

    first = threading.Thread(target=invite, args=("first",))
    first.start()
    holding.wait(20)
    second = threading.Thread(target=invite, args=("second",))
    second.start()
    for thread in (first, second):
        thread.join(60)
    assert outcomes == {"first": "invited", "second": "invitation_pending"}
    assert Invitation.objects.filter(inviter=founder).count() == 1


# ---------------------------------------------------------------------------
# Two members acting on each other at once
# ---------------------------------------------------------------------------


def settled(name: str) -> Member:
    return make_member(display_name=name, joined_at=clock.now() - SETTLED)


@pytest.mark.django_db(transaction=True)
def test_two_friends_writing_to_each_other_at_once_never_deadlock() -> None:
    anna, boris = settled("Anna"), settled("Boris")
    befriend(anna, boris)
    do_send_message(sender=anna, recipient_id=boris.id, text="hi")

    def chat(sender: Member, recipient: Member) -> None:
        for index in range(40):
            do_send_message(sender=sender, recipient_id=recipient.id, text=f"m{index}")

    outcomes = race([partial(chat, anna, boris), partial(chat, boris, anna)])
    assert outcomes == ["joined", "joined"], outcomes
    assert Message.objects.count() == 81
    for reader in (anna, boris):  # unread: what the other wrote since the reader's last
        last_written = Message.objects.filter(sender=reader).latest("id").id
        unread = Message.objects.exclude(sender=reader).filter(id__gt=last_written).count()
        assert Participant.objects.get(member=reader).unread_count == unread


@pytest.mark.django_db(transaction=True)
def test_first_messages_both_ways_at_once_open_one_conversation() -> None:
    pairs = [(settled(f"A{index}"), settled(f"B{index}")) for index in range(10)]
    attempts: list[Callable[[], object]] = []
    for first, second in pairs:
        attempts.append(partial(do_send_message, sender=first, recipient_id=second.id,
                                text="hi"))
        attempts.append(partial(do_send_message, sender=second, recipient_id=first.id,
                                text="hello"))
    outcomes = race(attempts)
    assert outcomes == ["joined"] * 20, outcomes
    assert Conversation.objects.count() == 10
    assert all(conversation.messages.count() == 2
               for conversation in Conversation.objects.all())


@pytest.mark.django_db(transaction=True)
def test_friend_requests_sent_both_ways_at_once_make_the_two_friends() -> None:
    """One after the other, the second request accepts the first; at once, too."""
    pairs = [(settled(f"A{index}"), settled(f"B{index}")) for index in range(10)]
    attempts: list[Callable[[], object]] = []
    for first, second in pairs:
        attempts.append(partial(do_send_friend_request, member=first, recipient_id=second.id))
        attempts.append(partial(do_send_friend_request, member=second, recipient_id=first.id))
    outcomes = race(attempts)
    assert outcomes == ["joined"] * 20, outcomes
    assert not FriendRequest.objects.exists()
    assert Friendship.objects.count() == 20


@pytest.mark.django_db(transaction=True)
def test_accepting_a_request_while_its_sender_blocks_leaves_no_friendship() -> None:
    """A block ends the friendship between the two, also one accepted at that moment;
    or the block came first and took the request away."""
    pairs = [(settled(f"A{index}"), settled(f"B{index}")) for index in range(20)]
    attempts: list[Callable[[], object]] = []
    for accepter, sender in pairs:
        do_send_friend_request(member=sender, recipient_id=accepter.id)
        attempts.append(partial(do_accept_friend_request, member=accepter, sender_id=sender.id))
        attempts.append(partial(do_block_member, member=sender, blocked_id=accepter.id))
    outcomes = race(attempts)
    assert set(outcomes) <= {"joined", "no_friend_request"}, outcomes
    assert Block.objects.count() == 20
    assert not Friendship.objects.exists()
    assert not FriendRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_friend_request_sent_while_its_recipient_blocks_the_sender_does_not_stay() -> None:
    """The request is refused, or came first and the block ended it."""
    pairs = [(settled(f"A{index}"), settled(f"B{index}")) for index in range(20)]
    attempts: list[Callable[[], object]] = []
    for blocker, blocked in pairs:
        attempts.append(partial(do_block_member, member=blocker, blocked_id=blocked.id))
        attempts.append(partial(do_send_friend_request, member=blocked, recipient_id=blocker.id))
    outcomes = race(attempts)
    assert set(outcomes) <= {"joined", "blocked"}, outcomes
    assert Block.objects.count() == 20
    assert not FriendRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["message", "wall post"])
def test_nothing_lands_once_the_block_has_committed(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The message (or the post on a friend's wall) passed the block check, then its
    rate limit (a round trip to the database or Redis) while the recipient blocked the
    sender: it is refused."""
    anna, boris = settled("Anna"), settled("Boris")
    befriend(anna, boris)
    do_send_message(sender=boris, recipient_id=anna.id, text="hi")
    Participant.objects.update(unread_count=0)
    limited, blocked = threading.Event(), threading.Event()
    enforce_rate_limit = social_actions.enforce_rate_limit

    def enforce_then_wait_for_the_block(*args: Any, **kwargs: Any) -> None:
        enforce_rate_limit(*args, **kwargs)
        limited.set()
        assert blocked.wait(20)

    monkeypatch.setattr(social_actions, "enforce_rate_limit", enforce_then_wait_for_the_block)

    def block() -> None:
        assert limited.wait(20)
        do_block_member(member=anna, blocked_id=boris.id)
        blocked.set()

    write: Callable[[], object]
    if kind == "message":
        write = partial(do_send_message, sender=boris, recipient_id=anna.id, text="no block")
    else:
        write = partial(do_post_on_wall, author=boris, wall_owner_id=anna.id, text="no block")
    outcomes = race([write, block])
    assert sorted(outcomes) == ["blocked", "joined"], outcomes
    assert Message.objects.count() == 1
    assert Participant.objects.get(member=anna).unread_count == 0
    assert not WallPost.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["message", "wall post"])
def test_one_key_sent_by_twenty_requests_at_once_writes_one_row(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Every request has found the key unused (they wait for one another after that
    look, at the rate limit) before any writes: the unique key decides, and every
    request answers the one row written."""
    anna, boris = settled("Anna"), settled("Boris")
    looked = threading.Barrier(RACERS)
    enforce_rate_limit = social_actions.enforce_rate_limit

    def enforce_then_wait_for_the_others(*args: Any, **kwargs: Any) -> None:
        enforce_rate_limit(*args, **kwargs)
        looked.wait(20)

    monkeypatch.setattr(social_actions, "enforce_rate_limit", enforce_then_wait_for_the_others)
    answered: list[int] = []

    def write() -> None:
        if kind == "message":
            row: Message | WallPost = do_send_message(
                sender=anna, recipient_id=boris.id, text="once", idempotency_key="k-1"
            )
        else:
            row = do_post_on_wall(author=anna, wall_owner_id=anna.id, text="once",
                                  idempotency_key="k-1")
        answered.append(row.id)

    outcomes = race([write] * RACERS)
    assert outcomes == ["joined"] * RACERS, outcomes
    model = Message if kind == "message" else WallPost
    assert model.objects.count() == 1
    assert answered == [model.objects.get().id] * RACERS
    if kind == "message":
        assert Participant.objects.get(member=boris).unread_count == 1


# ---------------------------------------------------------------------------
# A login, a ban and moderators' decisions meeting on the same members
# ---------------------------------------------------------------------------


def crashes(outcomes: list[str]) -> list[str]:
    return [outcome for outcome in outcomes if outcome.startswith("crash")]


@pytest.mark.django_db(transaction=True)
def test_a_login_during_a_ban_leaves_no_session_that_lifting_the_ban_revives() -> None:
    """The login reads the member, then checks the password (a fifth of a second) while
    the ban commits: its session is either refused or ended by the ban."""
    founder = make_member(display_name="Founder", role=Member.Role.FOUNDER)
    member = make_member(phone="+79161234567", display_name="Boris", invited_by=founder)
    login = ApiClient()
    login.client.raise_request_exception = False
    login.get("/site")  # the first request loads the views: not part of the race
    bans: list[Sanction] = []

    def log_in() -> None:
        response = login.post("/session", {"phone": "+79161234567", "password": PASSWORD})
        if response.status_code == 201:
            login.token = response.json_body["session_token"]
        else:
            assert response.json_body["code"] == "login_failed", response.json_body

    def ban() -> None:
        time.sleep(0.1)  # the login has read the member and is checking the password
        bans.append(do_ban_member(member=member, moderator=founder, reason="spam"))

    outcomes = race([log_in, ban])
    assert outcomes == ["joined", "joined"], outcomes  # race()'s word for success
    assert not MemberSession.objects.filter(member=member).exists()
    do_lift_sanction(sanction_id=bans[0].id, moderator=founder, reason="a mistake")
    assert login.get("/me").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_branch_quarantine_and_a_ban_for_spam_inside_it_never_deadlock() -> None:
    """The branch action locks its members by id, the inviter before the invitee; a ban
    for spam locks the invitee's inviter (for the strike) before the invitee too."""
    founder = make_member(display_name="Founder", role=Member.Role.FOUNDER)
    moderator = make_member(display_name="Mod", role=Member.Role.MODERATOR, invited_by=founder)
    outcomes: list[str] = []
    for round_ in range(15):
        root = make_member(display_name=f"Root{round_}", invited_by=founder)
        children = [make_member(display_name=f"C{round_}.{index}", invited_by=root)
                    for index in range(3)]
        preview = preview_branch_action(moderator=moderator, root=root,
                                        action=BranchAction.QUARANTINE)

        def apply_branch(root: Member = root, digest: str = preview.digest,
                         delay: float = (round_ % 5) / 1000) -> None:
            time.sleep(delay)  # scheduling jitter, swept 0–4 ms across the rounds
            do_apply_branch_action(moderator=moderator, root=root,
                                   action=BranchAction.QUARANTINE, digest=digest,
                                   reason="spam ring")

        def ban(child: Member = children[-1]) -> None:
            do_ban_member(member=child, moderator=founder, reason="spam", for_spam=True)

        outcomes += race([apply_branch, ban])
    assert crashes(outcomes) == [], (len(crashes(outcomes)), crashes(outcomes)[:2])


@pytest.mark.django_db(transaction=True)
def test_lifting_a_ban_while_an_operator_sets_the_status_never_deadlocks() -> None:
    """Both lock the member, then their sanctions."""
    founder = make_member(display_name="Founder", role=Member.Role.FOUNDER)
    operator = make_member(display_name="Operator", role=Member.Role.FOUNDER)
    outcomes: list[str] = []
    for round_ in range(20):
        member = make_member(display_name=f"M{round_}", invited_by=founder)
        ban = do_ban_member(member=member, moderator=founder, reason="spam")

        def lift(ban_id: int = ban.id) -> None:
            do_lift_sanction(sanction_id=ban_id, moderator=founder, reason="appeal")

        def set_status(member: Member = member) -> None:
            do_set_status_as_operator(member=member, operator=operator,
                                      status=Member.Status.QUARANTINED, reason="review")

        outcomes += race([lift, set_status])
    assert crashes(outcomes) == [], (len(crashes(outcomes)), crashes(outcomes)[:2])


@pytest.mark.django_db(transaction=True)
def test_a_mistaken_ban_and_the_lifting_of_the_strike_suspension_never_deadlock() -> None:
    """Declaring an invitee's ban a mistake ends the suspension the strikes imposed on
    the inviter; lifting that suspension at the same time locks the same rows in the
    same order: the inviter, then their suspension."""
    founder = make_member(display_name="Founder", role=Member.Role.FOUNDER)
    outcomes: list[str] = []
    for round_ in range(40):
        inviter = make_member(display_name=f"Inviter{round_}", invited_by=founder)
        invitees = [make_member(display_name=f"I{round_}.{index}", invited_by=inviter)
                    for index in range(2)]
        bans = [do_ban_member(member=invitee, moderator=founder, reason="spam",
                              for_spam=True) for invitee in invitees]
        suspension = Sanction.objects.get(member=inviter, kind=SanctionKind.INVITE_SUSPENSION)

        def lift_ban(ban_id: int = bans[-1].id) -> None:
            do_lift_sanction(sanction_id=ban_id, moderator=founder, reason="wrong person")

        def lift_suspension(suspension_id: int = suspension.id,
                            delay: float = (round_ % 10) / 1000) -> None:
            time.sleep(delay)  # scheduling jitter, swept 0–9 ms across the rounds
            do_lift_sanction(sanction_id=suspension_id, moderator=founder, reason="appeal")

        outcomes += race([lift_ban, lift_suspension])
    assert crashes(outcomes) == [], (len(crashes(outcomes)), crashes(outcomes)[:2])


@pytest.mark.django_db(transaction=True)
def test_a_report_sent_again_while_it_is_dismissed_is_refused_either_way() -> None:
    """The reporter sends their report again as a moderator dismisses it: the report
    is read either still open or already dismissed, never as neither, so the item does
    not go back to the queue."""
    moderator = make_member(display_name="Mod", role=Member.Role.MODERATOR)
    author, reporter = make_member(display_name="Author"), make_member(display_name="Ann")
    outcomes: list[str] = []
    for round_ in range(20):
        post = WallPost.objects.create(wall_owner=author, author=author, text=f"Poem {round_}")
        do_report_item(reporter=reporter, target_kind="wall_post", target_id=post.id,
                       reason="spam")

        def dismiss(post_id: int = post.id, delay: float = (round_ % 5) / 1000) -> None:
            time.sleep(delay)  # scheduling jitter, swept 0–4 ms across the rounds
            do_resolve_reports(moderator=moderator, target_kind="wall_post",
                               target_id=post_id, decision="dismiss", reason="A poem")

        def report_again(post_id: int = post.id) -> None:
            do_report_item(reporter=reporter, target_kind="wall_post", target_id=post_id,
                           reason="spam")

        outcomes += race([dismiss, report_again])
    assert crashes(outcomes) == [], (len(crashes(outcomes)), crashes(outcomes)[:2])
    assert outcomes.count("joined") == 20, outcomes  # the dismissals, each
    assert set(outcomes) - {"joined"} <= {"already_reported", "report_dismissed"}
    assert not Report.objects.filter(resolved_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_members_moving_to_one_number_at_once_leave_it_to_exactly_one(
    sms_outbox: SmsOutbox,
) -> None:
    """Each holds a right code for the same new number (a member's code replaces only
    their own): the unique blind index lets one move commit, the others are refused as
    for a taken number and keep theirs."""
    members = [make_member(display_name=f"Mover {index}") for index in range(6)]
    moves: list[Callable[[], object]] = []
    for member in members:
        started = do_start_phone_change(member=member, password=PASSWORD, phone="+79161234567")
        moves.append(partial(
            do_confirm_phone_change, member=member, verification_id=started.verification.id,
            code=sms_outbox.code_for("+79161234567"),
        ))
    before = {member.id: member.phone_blind_index for member in members}

    outcomes = race(moves)
    assert outcomes.count("joined") == 1, outcomes  # race()'s word for success
    assert set(outcomes) == {"joined", "phone_taken"}, outcomes
    index = blind_index("+79161234567")
    [moved] = Member.objects.filter(phone_blind_index=index)
    for member in Member.objects.exclude(id=moved.id).filter(id__in=before):
        assert member.phone_blind_index == before[member.id]
    assert AuditEntry.objects.filter(action=AuditAction.PHONE_CHANGED).count() == 1


# ---------------------------------------------------------------------------
# Leaving the network while someone writes to, or as, the member leaving
# ---------------------------------------------------------------------------


def _write_as_the_leave_meets_it(
    kind: str, leaving: Member, friend: Member
) -> Callable[[], object]:
    """What another member (or the leaving member's other session, with its own copy
    of the member) does at the moment of the leave; the pair is set up for it
    beforehand."""
    other_session = Member.objects.get(id=leaving.id)
    if kind in ("post on their wall", "accept their request"):
        if kind == "post on their wall":
            befriend(leaving, friend)
            return partial(do_post_on_wall, author=friend, wall_owner_id=leaving.id, text="hi")
        do_send_friend_request(member=leaving, recipient_id=friend.id)
        Notification.objects.all().delete()
        return partial(do_accept_friend_request, member=friend, sender_id=leaving.id)
    writes: dict[str, Callable[[], object]] = {
        "friend request to them": partial(
            do_send_friend_request, member=friend, recipient_id=leaving.id),
        "friend request from them": partial(
            do_send_friend_request, member=other_session, recipient_id=friend.id),
        "first message to them": partial(
            do_send_message, sender=friend, recipient_id=leaving.id, text="hi"),
        "first message from them": partial(
            do_send_message, sender=other_session, recipient_id=friend.id, text="hi",
            idempotency_key="k-1"),
        "about on their profile": partial(
            do_update_profile, member=other_session, about="me"),
        "post on their own wall": partial(
            do_post_on_wall, author=other_session, wall_owner_id=leaving.id, text="hi",
            idempotency_key="k-1"),
    }
    return writes[kind]


def _pause_after(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, reached: threading.Event,
    release: threading.Event,
) -> None:
    """``owner.name`` runs, then holds its caller's transaction open until released."""
    original = getattr(owner, name)

    def run_then_wait(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        reached.set()
        assert release.wait(20)
        return result

    monkeypatch.setattr(owner, name, run_then_wait)


def _hold_then_follow(
    starts_first: Callable[[], object], then: Callable[[], object],
    reached: threading.Event, release: threading.Event,
) -> dict[str, str]:
    """Run ``starts_first`` in a thread until it holds (``_pause_after``), then ``then``
    in another; release the first once the second waits for its lock or has ended (on
    SQLite: waits for the write lock, wait_for_a_lock_waiter's moment). The outcomes
    under "first" and "then": "done", an ActionError's code, or "crash: …"."""
    outcomes: dict[str, str] = {}

    def run(label: str, attempt: Callable[[], object]) -> None:
        try:
            attempt()
            outcomes[label] = "done"
        except ActionError as error:
            outcomes[label] = error.code
        except Exception as error:
            outcomes[label] = f"crash: {error!r}"
        finally:
            reached.set()
            connection.close()

    holder = threading.Thread(target=run, args=("first", starts_first))
    holder.start()
    assert reached.wait(20)
    follower = threading.Thread(target=run, args=("then", then))
    follower.start()
    deadline = time.monotonic() + (5 if connection.vendor == "postgresql" else 0.3)
    while follower.is_alive() and time.monotonic() < deadline:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                row = cursor.fetchone()
            if row and row[0]:
                break
        follower.join(0.05)
    release.set()
    for thread in (holder, follower):
        thread.join(60)
    return outcomes


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["the write", "the leave"])
@pytest.mark.parametrize("kind", [
    "friend request to them", "friend request from them", "accept their request",
    "first message to them", "first message from them", "post on their wall",
    "post on their own wall", "about on their profile",
])
def test_nothing_to_or_from_a_member_lands_after_their_leave_committed(
    monkeypatch: pytest.MonkeyPatch, kind: str, first: str
) -> None:
    """The write holds its transaction open, its row written, while the leave starts:
    the leave waits for it and then deletes the row. Or the leave holds its
    transaction open, everything deleted, while the write starts: the write waits, and
    is refused once the leave committed. Either way nothing of, to or from the member
    outlives the leave (their messages stay, sent before it)."""
    leaving, friend = settled("Lena"), settled("Fedor")
    write = _write_as_the_leave_meets_it(kind, leaving, friend)
    reached, release = threading.Event(), threading.Event()
    # Where the holder stops: the write right after its row, the leave after deleting.
    owner: Any = account_actions
    name = "record_audit_entry"
    if first == "the write" and kind == "about on their profile":
        owner, name = Profile, "save"
    elif first == "the write" and ("post" in kind or "message" in kind):
        owner, name = social_actions.idempotency, "remember"
    elif first == "the write":
        owner, name = social_actions, "notify_member"
    _pause_after(monkeypatch, owner, name, reached, release)
    leave = partial(account_actions.do_leave_network, member=leaving, password=PASSWORD,
                    confirmed=True)
    starts_first, then = (write, leave) if first == "the write" else (leave, write)
    outcomes = _hold_then_follow(starts_first, then, reached, release)
    write_outcome, leave_outcome = (
        (outcomes["first"], outcomes["then"]) if first == "the write"
        else (outcomes["then"], outcomes["first"])
    )
    assert leave_outcome == "done", outcomes
    if first == "the write":
        assert write_outcome == "done", outcomes
    else:  # the request to accept may be gone before the refusal
        assert write_outcome in {"member_left", "no_friend_request"}, outcomes
        assert write_outcome == "member_left" or kind == "accept their request", outcomes
    assert Member.objects.get(id=leaving.id).status == Member.Status.LEFT
    of_them = Q(member_id=leaving.id)
    assert not FriendRequest.objects.filter(
        Q(sender_id=leaving.id) | Q(recipient_id=leaving.id)).exists()
    assert not Friendship.objects.filter(of_them | Q(friend_id=leaving.id)).exists()
    assert not WallPost.objects.filter(
        Q(author_id=leaving.id) | Q(wall_owner_id=leaving.id)).exists()
    assert not Participant.objects.filter(of_them).exists()
    assert not Notification.objects.filter(of_them).exists()
    assert not IdempotencyKey.objects.filter(of_them).exists()
    assert not Profile.objects.filter(of_them).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["the vouch", "the leave"])
def test_no_vouch_of_a_member_outlives_their_leave(
    monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    """A vouch the leaving member's other session gives at that moment: the leave
    withdraws it, or it is refused once the leave committed."""
    from inviteonly.invitation_requests import actions as request_actions
    from inviteonly.invitation_requests.actions import (
        do_request_invitation,
        do_vouch_for_request,
    )
    from inviteonly.invitation_requests.models import Vouch

    founder = make_member(display_name="Founder", role=Member.Role.FOUNDER)
    leaving = make_member(display_name="Lena", role=Member.Role.MODERATOR,
                          invited_by=founder, joined_at=clock.now() - SETTLED)
    asked = do_request_invitation(phone="+79165550023", note="me too", language="en")
    reached, release = threading.Event(), threading.Event()
    owner: Any = request_actions if first == "the vouch" else account_actions
    _pause_after(monkeypatch, owner, "record_audit_entry", reached, release)
    vouch = partial(do_vouch_for_request, member=Member.objects.get(id=leaving.id),
                    request_id=asked.request.id)
    leave = partial(account_actions.do_leave_network, member=leaving, password=PASSWORD,
                    confirmed=True)
    starts_first, then = (vouch, leave) if first == "the vouch" else (leave, vouch)
    outcomes = _hold_then_follow(starts_first, then, reached, release)
    leave_outcome, vouch_outcome = (
        (outcomes["then"], outcomes["first"]) if first == "the vouch"
        else (outcomes["first"], outcomes["then"])
    )
    assert leave_outcome == "done", outcomes
    assert vouch_outcome == ("done" if first == "the vouch" else "member_left"), outcomes
    assert not Vouch.objects.filter(member_id=leaving.id).exists()
