"""A member leaves the network (`/profile/leave/`, `POST /api/me/leave`): their password
again (counted like a login) and a tick; then, in one transaction, nothing of the person
stays but the tree's node, the sanctions and the messages in other members' conversations.
Their number's blind index is held LEFT_NUMBER_HOLD_DAYS (no rejoining at once), then
`sweep` lets it go."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import formats, translation

from inviteonly.abuse.models import LoginThrottle
from inviteonly.accounts import actions as account_actions
from inviteonly.accounts.actions import (
    RELEASED_INDEX_PREFIX,
    Authenticated,
    do_leave_network,
)
from inviteonly.accounts.models import Member, MemberSession
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitation_requests.actions import (
    do_grant_invitation_request,
    do_request_invitation,
    do_vouch_for_request,
)
from inviteonly.invitation_requests.models import InvitationRequest, Vouch
from inviteonly.invitations.actions import do_invite_by_phone
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.tree import ancestors_of
from inviteonly.lib import crypto
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.actions import do_ban_member, do_lift_sanction, do_quarantine_member
from inviteonly.moderation.models import Sanction
from inviteonly.notifications.actions import notify_member
from inviteonly.notifications.models import Notification, NotificationKind
from inviteonly.social.actions import (
    do_post_on_wall,
    do_send_friend_request,
    do_send_message,
)
from inviteonly.social.avatars import avatar_directory
from inviteonly.social.models import (
    Block,
    FriendRequest,
    Friendship,
    Message,
    Participant,
    Profile,
    WallPost,
)
from tests.conftest import PASSWORD, ApiClient, FrozenClock, SmsOutbox, make_member
from tests.social_helpers import SETTLED, befriend, member_with_api
from tests.test_invitations import join
from tests.test_pages import logged_in, without_csrf

pytestmark = pytest.mark.django_db

LEAVING = "+79165550011"
UNKNOWN = "+79165550099"


@pytest.fixture
def leaving(founder: Member, clock: FrozenClock) -> Member:
    # A moderator: invites from day one, without an allowance.
    return make_member(
        phone=LEAVING, display_name="Lena", role=Member.Role.MODERATOR, invited_by=founder,
        joined_at=clock.current - SETTLED,
    )


def leave_by_api(client: ApiClient, password: str = PASSWORD, confirm: bool = True) -> Any:
    return client.post("/me/leave", {"password": password, "confirm": confirm})


def api_of(phone: str) -> ApiClient:
    client = ApiClient()
    client.log_in(phone)
    return client


def test_leaving_erases_the_person_and_keeps_the_tree_and_the_correspondence(
    founder: Member, leaving: Member, sms_outbox: SmsOutbox, clock: FrozenClock,
    django_capture_on_commit_callbacks: Any,
) -> None:
    invitee = make_member(display_name="Ivan", invited_by=leaving)
    friend = make_member(display_name="Fedor", joined_at=clock.current - SETTLED)
    asker = make_member(display_name="Asya")
    blocked = make_member(display_name="Boris")
    befriend(leaving, friend)
    FriendRequest.objects.create(sender=asker, recipient=leaving)
    Block.objects.create(blocker=leaving, blocked=blocked)
    WallPost.objects.create(wall_owner=friend, author=leaving, text="on Fedor's wall")
    WallPost.objects.create(wall_owner=leaving, author=friend, text="on Lena's wall")
    WallPost.objects.create(wall_owner=friend, author=friend, text="Fedor's own")
    do_send_message(sender=friend, recipient_id=leaving.id, text="hello Lena")
    do_send_message(sender=leaving, recipient_id=friend.id, text="hello Fedor")
    avatar = "leaving_avatar_0123456789.jpg"
    avatar_directory().mkdir(parents=True, exist_ok=True)
    (avatar_directory() / avatar).write_bytes(b"jpeg")
    Profile.objects.create(member=leaving, about="about Lena", avatar=avatar)
    notify_member(leaving, NotificationKind.PASSWORD_CHANGED)
    # A pending invitation, a granted request (its invitation pending too) and a vouch
    # for a request nobody granted yet.
    pending = do_invite_by_phone(inviter=leaving, phone="+79165550021")
    granted = do_request_invitation(phone="+79165550022", note="let me in", language="en")
    granted_invitation = do_grant_invitation_request(member=leaving, request_id=granted.request.id)
    open_request = do_request_invitation(phone="+79165550023", note="me too", language="en")
    do_vouch_for_request(member=leaving, request_id=open_request.request.id)
    do_vouch_for_request(member=founder, request_id=open_request.request.id)
    page = logged_in(LEAVING)
    api = api_of(LEAVING)
    index = leaving.phone_blind_index

    with django_capture_on_commit_callbacks(execute=True):
        left = leave_by_api(api)

    assert left.status_code == 200, left.json_body
    assert left.json_body == {"detail": "You have left the network. Goodbye."}
    member = Member.objects.get(id=leaving.id)
    assert member.status == Member.Status.LEFT and member.left_at == clock.current
    # Nothing of the person: an empty name, shown as "Former member" in each language.
    assert Member.objects.filter(id=leaving.id, display_name="").exists()
    assert member.display_name == "Former member"
    with translation.override("ru"):
        assert member.display_name == "Бывший участник"
    assert not member.has_usable_password()
    assert bytes(member.phone_ciphertext) == b"" and member.phone_masked == ""
    # Only the blind index is held; the node stays where it was.
    assert member.phone_blind_index == index
    assert member.invited_by_id == founder.id and member.role == Member.Role.MODERATOR
    # Every session ended.
    assert not MemberSession.objects.filter(member_id=leaving.id).exists()
    assert api.get("/me").status_code == 401
    assert page.get("/invite/").status_code == 302
    # The profile, its avatar file, friendships, friend requests, blocks, walls, inbox
    # rows and notifications: gone.
    assert not Profile.objects.filter(member_id=leaving.id).exists()
    assert not (avatar_directory() / avatar).exists()
    assert not Friendship.objects.filter(member_id__in=[leaving.id]).exists()
    assert not Friendship.objects.filter(friend_id=leaving.id).exists()
    assert not FriendRequest.objects.exists() and not Block.objects.exists()
    assert list(WallPost.objects.values_list("text", flat=True)) == ["Fedor's own"]
    assert not Participant.objects.filter(member_id=leaving.id).exists()
    assert not Notification.objects.filter(member_id=leaving.id).exists()
    # The correspondence stays the other side's, from "Former member".
    assert Message.objects.count() == 2
    fedor_page = Client()
    fedor_page.force_login(friend)
    conversation = fedor_page.get(f"/messages/{leaving.id}/").content.decode()
    assert "hello Lena" in conversation and "hello Fedor" in conversation
    assert "Former member" in conversation and conversation.count("Lena") == 1
    inbox = fedor_page.get("/messages/").content.decode()
    assert "Former member" in inbox
    # Their invitations are revoked; the granted request waits again; their vouch for
    # the open request is withdrawn, another member's stays.
    assert Invitation.objects.get(id=pending.id).revoked_at == clock.current
    assert Invitation.objects.get(id=granted_invitation.id).revoked_at == clock.current
    request = InvitationRequest.objects.get(id=granted.request.id)
    assert request.listed and request.granted_by is None and request.invitation is None
    assert list(Vouch.objects.values_list("member_id", flat=True)) == [founder.id]
    # The audit entry: no phone, no secret.
    entry = AuditEntry.objects.get(action=AuditAction.MEMBER_LEFT)
    assert (entry.actor_id, entry.target_member_id) == (leaving.id, leaving.id)
    assert entry.details == {"revoked_invitations": 2}
    # The invitee keeps their inviter, shown as "Former member"; moderators see the node.
    invitee.refresh_from_db()
    assert invitee.invited_by_id == leaving.id
    assert invitee.invited_by is not None
    assert invitee.invited_by.display_name == "Former member"
    assert [node.display_name for node in ancestors_of(invitee)] == [
        "Founder Anna", "Former member"
    ]
    home = Client()
    home.force_login(invitee)
    assert "Invited by: Former member" in home.get("/").content.decode()
    moderator_page = Client()
    moderator_page.force_login(founder)
    node = moderator_page.get(f"/moderation/members/{leaving.id}/")
    assert node.status_code == 200 and "Former member" in node.content.decode()
    # Nobody writes to them or asks them to be friends any more.
    with pytest.raises(ActionError) as refused:
        do_send_message(sender=friend, recipient_id=leaving.id, text="are you there?")
    assert refused.value.code == "member_left"
    with pytest.raises(ActionError) as refused:
        do_send_friend_request(member=friend, recipient_id=leaving.id)
    assert refused.value.code == "member_left"
    with pytest.raises(ActionError) as refused:  # as to anyone else, not "not friends"
        do_post_on_wall(author=friend, wall_owner_id=leaving.id, text="miss you")
    assert (refused.value.code, refused.value.status) == ("member_left", 410)


def test_a_wrong_password_refuses_changes_nothing_and_counts_as_a_failed_login(
    leaving: Member, clock: FrozenClock
) -> None:
    api = api_of(LEAVING)
    for _ in range(4):  # three free typos, the fourth sets a wait: as at the login form
        refused = leave_by_api(api, password="not the password")
        assert refused.status_code == 403
        assert refused.json_body["code"] == "password_wrong"
        assert refused.json_body["field"] == "password"
    throttled = leave_by_api(api)
    assert throttled.status_code == 429
    assert LoginThrottle.objects.exists()
    failed = AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED, actor=leaving)
    assert failed.count() == 4
    member = Member.objects.get(id=leaving.id)
    assert member.status == Member.Status.ACTIVE and member.display_name == "Lena"
    assert api.get("/me").status_code == 200
    # Not confirmed: refused before the password is even counted.
    clock.advance(seconds=30)
    unconfirmed = leave_by_api(api, confirm=False)
    assert unconfirmed.status_code == 400 and unconfirmed.json_body["field"] == "confirm"
    assert AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED).count() == 4
    assert leave_by_api(api).status_code == 200


def test_a_failure_inside_the_transaction_leaves_nothing_half_written(
    leaving: Member, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    friend = make_member(display_name="Fedor")
    befriend(leaving, friend)
    Profile.objects.create(member=leaving, about="about Lena")
    do_send_message(sender=friend, recipient_id=leaving.id, text="hello Lena")
    pending = do_invite_by_phone(inviter=leaving, phone="+79165550021")
    client = logged_in(LEAVING)

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(account_actions, "record_audit_entry", fail)
    with pytest.raises(RuntimeError):
        do_leave_network(member=leaving, password=PASSWORD, confirmed=True)

    member = Member.objects.get(id=leaving.id)
    assert member.status == Member.Status.ACTIVE and member.display_name == "Lena"
    assert member.phone_masked and member.has_usable_password()
    assert Profile.objects.filter(member=leaving).exists()
    assert Friendship.objects.count() == 2
    assert Participant.objects.filter(member=leaving).exists()
    assert Invitation.objects.get(id=pending.id).revoked_at is None
    assert client.get("/invite/").status_code == 200


def test_a_left_member_cannot_log_in_or_recover_and_is_answered_as_an_unknown_number(
    leaving: Member, sms_outbox: SmsOutbox
) -> None:
    assert leave_by_api(api_of(LEAVING)).status_code == 200
    sms_outbox.deliver()
    # The API: the same refusal, the same kind of recovery answer, no SMS either way.
    logins = [ApiClient().post("/session", {"phone": phone, "password": PASSWORD})
              for phone in (LEAVING, UNKNOWN)]
    assert [login.status_code for login in logins] == [401, 401]
    assert logins[0].json_body == logins[1].json_body
    recoveries = [ApiClient().post("/recovery", {"phone": phone}) for phone in (LEAVING, UNKNOWN)]
    assert [recovery.status_code for recovery in recoveries] == [202, 202]
    bodies = [recovery.json_body for recovery in recoveries]
    assert sorted(bodies[0]) == sorted(bodies[1])
    assert sms_outbox.deliver() == []
    # The pages: identical but for the number typed.
    pages = [Client().post("/login/", {"phone": phone, "password": PASSWORD})
             for phone in (LEAVING, UNKNOWN)]
    assert [page.status_code for page in pages] == [200, 200]
    assert without_csrf(pages[0].content).replace(LEAVING, "N") == without_csrf(
        pages[1].content
    ).replace(UNKNOWN, "N")
    answers = []
    for phone in (LEAVING, UNKNOWN):
        client = Client()
        started = client.post("/recover/", {"phone": phone})
        wrong_code = client.post("/recover/confirm/", {
            "code": "000000", "new_password": "a brand new passphrase",
        })
        answers.append((started.status_code, started["Location"], without_csrf(wrong_code.content)))
    assert answers[0] == answers[1]
    assert sms_outbox.deliver() == []


def test_the_number_is_held_then_released_by_the_sweep_and_can_join_again(
    founder: Member, leaving: Member, sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    invitee = make_member(display_name="Ivan", invited_by=leaving)
    assert leave_by_api(api_of(LEAVING)).status_code == 200
    sms_outbox.deliver()
    # During the hold: an invitation to the number is answered as any, and sends nothing.
    held = do_invite_by_phone(inviter=founder, phone=LEAVING)
    other = do_invite_by_phone(inviter=founder, phone=UNKNOWN)
    assert type(held) is type(other) and held.state == other.state
    assert held.sms is not None and held.sms.suppressed
    assert other.sms is not None and not other.sms.suppressed
    delivered = sms_outbox.deliver()
    assert [sms.to for sms in delivered] == [UNKNOWN]
    clock.advance(days=89)
    call_command("sweep", verbosity=0)
    assert Member.objects.get(id=leaving.id).phone_blind_index == crypto.blind_index(LEAVING)
    # After it, the sweep lets the number go: it is invited and joins like any.
    clock.advance(days=1)
    call_command("sweep", verbosity=0)
    member = Member.objects.get(id=leaving.id)
    assert member.phone_blind_index == f"{RELEASED_INDEX_PREFIX}{leaving.id}"
    assert member.status == Member.Status.LEFT
    Invitation.objects.filter(id=held.id).update(revoked_at=clock.current)
    do_invite_by_phone(inviter=founder, phone=LEAVING)
    newcomer = join(
        Invitation.objects.filter(inviter=founder, revoked_at__isnull=True)
        .order_by("-id").select_related("inviter").first(),
        sms_outbox, phone=LEAVING,
    )
    assert newcomer.id != leaving.id and newcomer.status == Member.Status.ACTIVE
    assert Member.objects.get(id=invitee.id).invited_by_id == leaving.id


@override_settings(LEFT_NUMBER_HOLD_DAYS=0)
def test_with_no_hold_the_next_sweep_releases_the_number(
    leaving: Member, sms_outbox: SmsOutbox
) -> None:
    assert leave_by_api(api_of(LEAVING)).status_code == 200
    call_command("sweep", verbosity=0)
    assert Member.objects.get(id=leaving.id).phone_blind_index.startswith(RELEASED_INDEX_PREFIX)


def test_a_quarantined_member_may_leave_and_the_sanction_stays(
    founder: Member, leaving: Member, sms_outbox: SmsOutbox
) -> None:
    sanction = do_quarantine_member(member=leaving, moderator=founder, reason="spam")
    leaving.refresh_from_db()
    assert leaving.status == Member.Status.QUARANTINED
    assert leave_by_api(api_of(LEAVING)).status_code == 200
    assert Sanction.objects.filter(id=sanction.id, member_id=leaving.id).exists()
    # A later decision about them does not bring them back.
    do_lift_sanction(sanction_id=sanction.id, moderator=founder, reason="a mistake")
    assert Member.objects.get(id=leaving.id).status == Member.Status.LEFT


def test_a_banned_member_cannot_leave(founder: Member, leaving: Member) -> None:
    do_ban_member(member=leaving, moderator=founder, reason="spam")
    leaving.refresh_from_db()
    with pytest.raises(ActionError) as refused:
        do_leave_network(member=leaving, password=PASSWORD, confirmed=True)
    assert refused.value.code == "account_restricted"
    assert Member.objects.get(id=leaving.id).status == Member.Status.BANNED


def test_the_page_is_linked_from_the_profile_and_leaves_after_the_password_and_tick(
    leaving: Member,
) -> None:
    client = logged_in(LEAVING)
    assert 'href="/profile/leave/"' in client.get("/profile/").content.decode()
    page = client.get("/profile/leave/").content.decode()
    assert "This cannot be undone." in page and "90 days" in page
    unticked = client.post("/profile/leave/", {"password": PASSWORD})
    assert unticked.status_code == 200
    assert "Tick the box to confirm" in unticked.content.decode()
    wrong = client.post("/profile/leave/", {"password": "not it", "confirm": "on"})
    assert "The password is wrong." in wrong.content.decode()
    assert Member.objects.get(id=leaving.id).status == Member.Status.ACTIVE
    left = client.post("/profile/leave/", {"password": PASSWORD, "confirm": "on"})
    assert left.status_code == 302 and left["Location"] == "/login/"
    assert "You have left the network. Goodbye." in client.get("/login/").content.decode()
    assert client.get("/invite/").status_code == 302
    assert Member.objects.get(id=leaving.id).status == Member.Status.LEFT


def test_the_leave_page_in_russian(leaving: Member) -> None:
    client = logged_in(LEAVING)
    client.post("/language/", {"language": "ru"})
    page = client.get("/profile/leave/").content.decode()
    assert "Покинуть сеть" in page and "90 дней" in page


def test_the_admin_shows_a_left_member_read_only_and_offers_no_one_the_status(
    founder: Member, leaving: Member
) -> None:
    other = make_member(display_name="Olga")
    assert leave_by_api(api_of(LEAVING)).status_code == 200
    admin = Client()
    admin.force_login(founder)
    page = admin.get(f"/admin/accounts/member/{leaving.id}/change/").content.decode()
    assert "Former member" in page
    assert 'name="status"' not in page and 'name="display_name"' not in page
    other_page = admin.get(f"/admin/accounts/member/{other.id}/change/").content.decode()
    assert 'name="status"' in other_page and 'value="left"' not in other_page


def test_leaving_does_not_escape_a_ban_for_spam_or_the_inviters_strike(
    founder: Member,
) -> None:
    """A spammer reported and then gone: the report keeps its excerpt, the moderator
    still bans for spam from the queue, and the inviter still answers for them."""
    from inviteonly.moderation.actions import do_resolve_reports
    from inviteonly.moderation.models import Report, Strike
    from tests.test_reports import post_by, report

    moderator = make_member(display_name="Moderator", role=Member.Role.MODERATOR)
    inviter = make_member(display_name="Inviter Ivan")
    spammer = make_member(phone="+79165550021", display_name="Spammer", invited_by=inviter)
    post = post_by(spammer)
    report(make_member(), post)
    do_leave_network(member=spammer, password=PASSWORD, confirmed=True)
    do_resolve_reports(moderator=moderator, target_kind="wall_post", target_id=post.id,
                       decision="ban", reason="Spam links", for_spam=True)
    spammer.refresh_from_db()
    assert spammer.status == Member.Status.LEFT
    assert Sanction.objects.filter(member=spammer, kind="ban").exists()
    assert Strike.objects.filter(member=inviter, invitee=spammer).exists()
    assert Report.objects.get(target_id=post.id).resolved_at is not None


def test_their_profile_and_conversation_offer_nothing_that_would_be_refused(
    leaving: Member, clock: FrozenClock
) -> None:
    """No button to befriend, write to, block or report someone who left, nor a form to
    send a message the action refuses (410): the pages and the API's relation say so."""
    friend = make_member(phone="+79165550012", display_name="Fedor",
                         joined_at=clock.current - SETTLED)
    do_send_message(sender=leaving, recipient_id=friend.id, text="hello Fedor")
    do_leave_network(member=leaving, password=PASSWORD, confirmed=True)
    page = Client()
    page.force_login(friend)
    profile = page.get(f"/members/{leaving.id}/").content.decode()
    assert "This member has left the network." in profile
    for action in ("add-friend", "write-message", 'data-testid="block"', "report-profile",
                   "post-form"):
        assert action not in profile, action
    conversation = page.get(f"/messages/{leaving.id}/").content.decode()
    assert "hello Fedor" in conversation
    assert "This member has left the network." in conversation
    assert 'data-testid="send"' not in conversation
    relation = api_of("+79165550012").get(f"/members/{leaving.id}").json_body["relation"]
    assert (relation["may_message"], relation["may_post"]) == (False, False)


def test_no_notice_is_written_for_a_member_who_left(founder: Member, leaving: Member) -> None:
    """A decision about them, about their invitee, or on the report they filed: each
    notifies them no more (nobody reads it, and leaving erased their notifications)."""
    from inviteonly.moderation.actions import do_resolve_reports, do_warn_member
    from tests.test_reports import post_by, report

    spammer = make_member(phone="+79165550021", display_name="Spammer", invited_by=leaving)
    post = post_by(spammer)
    report(leaving, post)
    do_leave_network(member=leaving, password=PASSWORD, confirmed=True)
    do_warn_member(member=leaving, moderator=founder, reason="rude")
    do_resolve_reports(moderator=founder, target_kind="wall_post", target_id=post.id,
                       decision="ban", reason="Spam links", for_spam=True)
    assert Sanction.objects.filter(member=spammer, kind="ban").exists()
    assert not Notification.objects.filter(member_id=leaving.id).exists()


def test_the_invitation_they_joined_with_keeps_no_number_of_theirs(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """The invitation they redeemed held their number, encrypted and masked, tied to
    their row by ``redeemed_by``: the leave erases it there too (the inviter's list shows
    no number for it any more)."""
    from tests.test_invitations import invite_and_open

    number = "+79165550031"
    joined = join(invite_and_open(founder, sms_outbox, phone=number), sms_outbox, phone=number)
    used = Invitation.objects.get(redeemed_by=joined)
    mask = used.phone_masked
    assert used.phone_ciphertext and mask
    page = Client()
    page.force_login(founder)
    assert mask in page.get("/invitations/").content.decode()
    do_leave_network(member=joined, password=PASSWORD, confirmed=True)
    used.refresh_from_db()
    assert not used.phone_ciphertext and used.phone_masked == ""
    assert mask not in page.get("/invitations/").content.decode()


def test_a_recovery_or_a_new_number_in_progress_ends_with_the_leave(
    leaving: Member, sms_outbox: SmsOutbox
) -> None:
    """Their open codes are used up and keep no number: a recovery code typed after
    the leave answers as a used code does, not "this account is restricted"."""
    from inviteonly.accounts.actions import (
        do_confirm_recovery,
        do_start_phone_change,
        do_start_recovery,
    )
    from inviteonly.phone_verification.models import PhoneVerification

    recovery = do_start_recovery(phone=LEAVING)
    do_start_phone_change(member=leaving, password=PASSWORD, phone="+79165550041")
    codes = {sms.to: sms_outbox.code_for(sms.to) for sms in sms_outbox.deliver()}
    do_leave_network(member=leaving, password=PASSWORD, confirmed=True)
    with pytest.raises(ActionError) as refused:
        do_confirm_recovery(verification_id=recovery.verification.id, code=codes[LEAVING],
                            new_password="a brand new passphrase")
    assert (refused.value.code, refused.value.status) == ("code_expired", 410)
    for verification in PhoneVerification.objects.filter(member_id=leaving.id):
        assert verification.consumed_at is not None
        assert not verification.phone_ciphertext and verification.phone_masked == ""
    assert Member.objects.get(id=leaving.id).status == Member.Status.LEFT


def test_a_recovery_asked_for_their_held_number_is_audited_as_for_an_unknown_one(
    leaving: Member,
) -> None:
    """The audit entry names no member: it would tie the number's mask, typed by
    anyone, back to the row that the leave emptied."""
    from inviteonly.accounts.actions import do_start_recovery

    do_leave_network(member=leaving, password=PASSWORD, confirmed=True)
    for phone in (LEAVING, UNKNOWN):
        do_start_recovery(phone=phone)
    entries = AuditEntry.objects.filter(action=AuditAction.RECOVERY_REQUESTED).order_by("id")
    assert [entry.target_member_id for entry in entries] == [None, None]


def test_serialized_a_left_member_keeps_an_empty_name_not_the_shown_one(
    leaving: Member,
) -> None:
    """dumpdata (and a model form's initial values) read what is stored: "Former
    member" written out in the language of the dump would read as a name."""
    from django.core import serializers
    from django.forms.models import model_to_dict

    do_leave_network(member=leaving, password=PASSWORD, confirmed=True)
    member = Member.objects.get(id=leaving.id)
    with translation.override("ru"):
        dumped = serializers.serialize("json", [member])
        initial = model_to_dict(member, fields=["display_name"])
    [loaded] = serializers.deserialize("json", dumped)
    assert isinstance(loaded.object, Member)
    assert loaded.object.__dict__["display_name"] == ""
    assert initial == {"display_name": ""}
    assert loaded.object.display_name == "Former member"


def test_a_login_whose_password_was_checked_before_the_leave_stores_no_session(
    leaving: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The login checked the password on the member read before the leave committed:
    the session is refused under the member's lock, as after a ban, not stored for a
    member who left (with their browser and network, until it expired)."""
    from inviteonly.api import sessions as api_sessions

    authenticate = api_sessions.authenticate_member

    def authenticate_then_leave(**kwargs: Any) -> Authenticated:
        authenticated = authenticate(**kwargs)
        do_leave_network(member=Member.objects.get(id=authenticated.member.id),
                         password=PASSWORD, confirmed=True)
        return authenticated

    monkeypatch.setattr(api_sessions, "authenticate_member", authenticate_then_leave)
    login = ApiClient().post("/session", {"phone": LEAVING, "password": PASSWORD})
    assert login.status_code == 401 and login.json_body["code"] == "login_failed"
    assert not MemberSession.objects.filter(member_id=leaving.id).exists()
    assert Member.objects.get(id=leaving.id).last_login is None


@pytest.mark.parametrize(("language", "words"), [("en", "left the network"), ("ru", "покинул")])
def test_joining_with_a_held_number_says_when_it_may_join_again(
    founder: Member, leaving: Member, sms_outbox: SmsOutbox, clock: FrozenClock,
    language: str, words: str,
) -> None:
    """Only the holder of the phone gets this far (the code went to it): they are told
    the number is held and until when, not to log in or recover, which answer for it
    as for an unknown number."""
    from inviteonly.site_config.actions import do_set_registration_mode
    from inviteonly.site_config.models import RegistrationMode

    assert leave_by_api(api_of(LEAVING)).status_code == 200
    do_set_registration_mode(actor=founder, mode=RegistrationMode.OPEN)
    clock.advance(days=10)
    with translation.override(language):
        with pytest.raises(ActionError) as refused:
            join(None, sms_outbox, phone=LEAVING)
        assert words in str(refused.value.message)
        left_at = Member.objects.get(id=leaving.id).left_at
        assert left_at is not None
        released = left_at + timedelta(days=90)
        assert formats.date_format(released, "DATE_FORMAT") in str(refused.value.message)
    assert (refused.value.code, refused.value.status) == ("number_held", 409)
    assert not Member.objects.filter(
        status=Member.Status.ACTIVE, phone_blind_index=crypto.blind_index(LEAVING)
    ).exists()


def test_their_pending_friend_requests_take_their_unread_notices_with_them(
    leaving: Member, clock: FrozenClock
) -> None:
    """"Former member wants to be your friend" would send the reader to a request that
    leaving deleted; a notice already read stays, as history."""
    fedor = make_member(phone="+79165550031", display_name="Fedor")
    asya = make_member(phone="+79165550032", display_name="Asya")
    do_send_friend_request(member=leaving, recipient_id=fedor.id)
    do_send_friend_request(member=leaving, recipient_id=asya.id)
    Notification.objects.filter(member=asya).update(read_at=clock.current)
    do_leave_network(member=leaving, password=PASSWORD, confirmed=True)
    assert not Notification.objects.filter(member=fedor).exists()
    assert Notification.objects.filter(member=asya, subject_id=leaving.id).count() == 1


def test_messages_to_a_member_who_left_have_no_read_state() -> None:
    """What they read left with them (their side of the conversation is deleted): the
    API says neither read nor unread (null) of the messages sent to them, and the
    page marks none."""
    anna, anna_api = member_with_api("Anna")
    boris, boris_api = member_with_api("Boris")
    first = anna_api.post(f"/conversations/{boris.id}", {"text": "first note"}).json_body["id"]
    anna_api.post(f"/conversations/{boris.id}", {"text": "second note"})
    assert boris_api.post(f"/conversations/{anna.id}/read?up_to={first}").status_code == 200
    shown = anna_api.get(f"/conversations/{boris.id}").json_body["messages"]
    assert [(row["text"], row["read"]) for row in shown] == [
        ("second note", False), ("first note", True)
    ]
    do_leave_network(member=boris, password=PASSWORD, confirmed=True)
    shown = anna_api.get(f"/conversations/{boris.id}").json_body["messages"]
    assert [(row["text"], row["read"]) for row in shown] == [
        ("second note", None), ("first note", None)
    ]
    page = Client()
    page.force_login(anna)
    html = page.get(f"/messages/{boris.id}/").content.decode()
    assert "first note" in html and "second note" in html
    assert 'data-testid="read-mark"' not in html
