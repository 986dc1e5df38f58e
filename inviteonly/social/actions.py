"""Every write of the social layer: profiles, friends, blocks, walls, messages.

Checks that read come first, then the rate limits (outside the transaction, so a
refusal is still counted and audited), then one transaction for the write.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Case, F, Q, When
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from inviteonly.abuse.actions import enforce_rate_limit
from inviteonly.abuse.limiter import Subject
from inviteonly.accounts.models import Member
from inviteonly.accounts.validation import clean_multiline_text
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.notifications.actions import notify_member, withdraw_unread_notices
from inviteonly.notifications.models import NotificationKind
from inviteonly.social import idempotency
from inviteonly.social.avatars import delete_avatar_file, reencode_avatar, store_avatar
from inviteonly.social.models import (
    Audience,
    Block,
    Conversation,
    FriendRequest,
    Friendship,
    IdempotentOperation,
    Message,
    Participant,
    Profile,
    WallPost,
)
from inviteonly.social.queries import Relation, member_for_viewer
from inviteonly.social.rules import (
    access_member,
    check_may_write,
    check_not_left,
    count_links,
    is_new_member,
    member_left,
)

# ---------------------------------------------------------------------------
# Profiles
# ---------------------------------------------------------------------------


def do_update_profile(
    *,
    member: Member,
    about: str | None = None,
    wall_audience: str | None = None,
    message_audience: str | None = None,
    findable_by_phone: bool | None = None,
) -> Profile:
    """Change what is given of the member's profile; what is left out (None) keeps its
    value, so a change of the about text never opens a friends-only wall. A quarantined
    member may still change the privacy settings and clear the about text, not write
    one."""
    changes: dict[str, object] = {}
    if about is not None:
        about = clean_multiline_text(about, field="about")
        if len(about) > settings.PROFILE_ABOUT_MAX_LENGTH:
            raise _too_long("about", settings.PROFILE_ABOUT_MAX_LENGTH)
        changes["about"] = about
    for field, value in (("wall_audience", wall_audience),
                         ("message_audience", message_audience)):
        if value is None:
            continue
        if value not in Audience.values:
            raise ActionError(
                "invalid_audience", _("Choose everyone or friends only."), field=field
            )
        changes[field] = value
    if findable_by_phone is not None:
        changes["findable_by_phone"] = findable_by_phone
    with transaction.atomic():
        hold_members(member.id)
        profile, _created = Profile.objects.select_for_update().get_or_create(member=member)
        if changes.get("about", profile.about) not in (profile.about, ""):
            check_may_write(member)
        for name, change in changes.items():
            setattr(profile, name, change)
        if changes:
            profile.save(update_fields=list(changes))
    return profile


def do_set_avatar(*, member: Member, data: bytes) -> Profile:
    """Replace the member's avatar with ``data`` re-encoded (see avatars.py)."""
    check_may_write(member)
    # Before decoding, which is what an upload costs.
    enforce_rate_limit(["avatar"], Subject(member_id=member.id))
    name = store_avatar(reencode_avatar(data))
    try:
        with transaction.atomic():
            hold_members(member.id)
            profile, _created = Profile.objects.select_for_update().get_or_create(member=member)
            previous = profile.avatar
            profile.avatar = name
            profile.save(update_fields=["avatar"])
            transaction.on_commit(lambda: delete_avatar_file(previous))
    except BaseException:
        delete_avatar_file(name)
        raise
    return profile


def do_remove_avatar(*, member: Member) -> Profile:
    with transaction.atomic():
        hold_members(member.id)
        profile, _created = Profile.objects.select_for_update().get_or_create(member=member)
        previous = profile.avatar
        profile.avatar = ""
        profile.save(update_fields=["avatar"])
        transaction.on_commit(lambda: delete_avatar_file(previous))
    return profile


# ---------------------------------------------------------------------------
# Friends and blocks
# ---------------------------------------------------------------------------


def _refuse_self(member: Member, other_id: int) -> None:
    if other_id == member.id:
        raise ActionError("self", _("That is you."), status=400)


def _other(member: Member, other_id: int) -> Member:
    _refuse_self(member, other_id)
    return access_member(other_id)


def _other_with_relation(member: Member, other_id: int) -> tuple[Member, Relation]:
    _refuse_self(member, other_id)
    other, relation = member_for_viewer(member, other_id)
    check_not_left(other)
    return other, relation


def _lock_pair(member_id: int, other_id: int) -> None:
    """Wait, until the transaction ends, for any other action between these two
    members: called first in the transaction of every action that reads how two
    members stand (a block, a friendship, a request) and writes on it, which then
    reads it again. Without it, two requests both ways each find none from the other
    and both stay; a block commits between an acceptance's read and its friendship.

    A PostgreSQL advisory lock on the pair, not the two members' rows: those are
    locked by invitations (the inviter) and bans (the banned, then their inviter), an
    order that id order would deadlock with, and a row lock would also hold up every
    insert that refers to the member. Only these actions take it, each one pair, first
    thing, so it waits for nothing else. One statement; ids past 2**31 wrap, which
    at worst makes two pairs wait for each other. SQLite needs none: its transactions
    take the database's write lock as they begin (``BEGIN IMMEDIATE``).

    It holds the two members too (``hold_members``): neither leaves the network while
    it lasts, and it is refused if one of them has."""
    if connection.vendor == "postgresql":
        low, high = sorted((member_id, other_id))
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [low % 2**31, high % 2**31])
    hold_members(member_id, other_id)


def hold_members(*member_ids: int) -> None:
    """Wait for any of these members leaving the network at this moment, hold them
    until the transaction ends (their leave waits: ``lock_member_leaving``), then
    refuse if one of them has left: called in the transaction of every action that
    writes something of, to or from a member (a friendship, a friend request, a
    message, a wall post, a profile; a vouch: invitation_requests.actions), before it
    reads how they stand. Without it, what
    the action writes lands after the leave deleted everything of the member. A
    PostgreSQL advisory lock per member, shared by these actions and taken after the
    pair's (``_lock_pair``), in id order, each single-key (a key space apart from the
    pairs' two-key locks); the leave takes it exclusively, first thing."""
    ids = sorted(set(member_ids))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join(["pg_advisory_xact_lock_shared(%s)"] * len(ids)), ids
            )
    # After the wait: a statement of its own sees the leave that committed meanwhile.
    if Member.objects.filter(id__in=ids, status=Member.Status.LEFT).exists():
        raise member_left()


def lock_member_leaving(member_id: int) -> None:
    """First thing in a leave's transaction (accounts.actions.do_leave_network): wait
    for every action holding the member (``hold_members``) to end, and hold back
    those that start, until the leave commits and they find the member gone."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [member_id])


def _lock_pair_unblocked(member_id: int, other_id: int) -> None:
    """``_lock_pair``, then refuse if a block between the two committed since the
    action first read how they stand: what it writes would land after the block."""
    _lock_pair(member_id, other_id)
    if Block.objects.filter(
        Q(blocker_id=member_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=member_id)
    ).exists():
        raise _refuse_blocked()


def _refuse_blocked() -> ActionError:
    return ActionError(
        "blocked", _("You cannot do this: one of you has blocked the other."), status=403
    )


def _befriend(member: Member, other: Member) -> None:
    now = clock.now()
    Friendship.objects.bulk_create([
        Friendship(member=member, friend=other, created_at=now),
        Friendship(member=other, friend=member, created_at=now),
    ], ignore_conflicts=True)


def _check_may_ask(relation: Relation) -> None:
    if relation.blocked:
        raise _refuse_blocked()
    if relation.friends:
        raise ActionError("already_friends", _("You are already friends."), status=409)
    if relation.request_sent:
        raise ActionError(
            "already_requested", _("You have already asked this member."), status=409
        )


def do_send_friend_request(*, member: Member, recipient_id: int) -> bool:
    """Ask ``recipient_id`` to be friends; if they already asked us, we are friends
    now (as accepting their request does, which a quarantined member may too). Returns
    whether the two are friends after it."""
    recipient, relation = _other_with_relation(member, recipient_id)
    _check_may_ask(relation)
    if relation.request_received:
        do_accept_friend_request(member=member, sender_id=recipient.id)
        return True
    check_may_write(member)
    enforce_rate_limit(["friend_request"], Subject(member_id=member.id))
    with transaction.atomic():
        _lock_pair(member.id, recipient.id)
        # Again: the other may have asked us, or one of us blocked the other, meanwhile.
        recipient, relation = _other_with_relation(member, recipient_id)
        _check_may_ask(relation)
        if relation.request_received:
            do_accept_friend_request(member=member, sender_id=recipient.id)
            return True
        FriendRequest.objects.create(sender=member, recipient=recipient)
        notify_member(recipient, NotificationKind.FRIEND_REQUEST, subject=member)
    return False


def _no_request() -> ActionError:
    return ActionError("no_friend_request", _("There is no such friend request."), status=404)


def do_accept_friend_request(*, member: Member, sender_id: int) -> None:
    with transaction.atomic():
        _lock_pair(member.id, sender_id)  # a block at the same moment comes before or after
        deleted, _by_model = FriendRequest.objects.filter(
            sender_id=sender_id, recipient=member
        ).delete()
        if not deleted:
            raise _no_request()
        sender = access_member(sender_id)
        # A request the other way is answered by this friendship too.
        FriendRequest.objects.filter(sender=member, recipient_id=sender_id).delete()
        _befriend(member, sender)
        notify_member(sender, NotificationKind.FRIEND_ACCEPTED, subject=member)


def do_decline_friend_request(*, member: Member, sender_id: int) -> None:
    deleted, _by_model = FriendRequest.objects.filter(
        sender_id=sender_id, recipient=member
    ).delete()
    if not deleted:
        raise _no_request()


def do_cancel_friend_request(*, member: Member, recipient_id: int) -> None:
    """Take back a request; its notice goes too, unless the recipient read it."""
    with transaction.atomic():
        deleted, _by_model = FriendRequest.objects.filter(
            sender=member, recipient_id=recipient_id
        ).delete()
        if not deleted:
            raise _no_request()
        withdraw_unread_notices(NotificationKind.FRIEND_REQUEST, subject_id=member.id,
                                member_ids=[recipient_id])


def _unfriend(member_id: int, other_id: int) -> int:
    deleted, _by_model = Friendship.objects.filter(
        Q(member_id=member_id, friend_id=other_id) | Q(member_id=other_id, friend_id=member_id)
    ).delete()
    return deleted


def do_remove_friend(*, member: Member, friend_id: int) -> None:
    with transaction.atomic():
        if not _unfriend(member.id, friend_id):
            raise ActionError("not_friends", _("You are not friends."), status=404)


def do_block_member(*, member: Member, blocked_id: int) -> None:
    """Block a member: the friendship and friend requests between the two end (with
    the requests' unread notices), and neither can write to the other or post on the
    other's wall."""
    blocked = _other(member, blocked_id)
    with transaction.atomic():
        _lock_pair(member.id, blocked.id)
        Block.objects.get_or_create(blocker=member, blocked=blocked)
        _unfriend(member.id, blocked.id)
        FriendRequest.objects.filter(
            Q(sender=member, recipient=blocked) | Q(sender=blocked, recipient=member)
        ).delete()
        for asker, asked in ((member, blocked), (blocked, member)):
            withdraw_unread_notices(NotificationKind.FRIEND_REQUEST, subject_id=asker.id,
                                    member_ids=[asked.id])


def do_unblock_member(*, member: Member, blocked_id: int) -> None:
    deleted, _by_model = Block.objects.filter(blocker=member, blocked_id=blocked_id).delete()
    if not deleted:
        raise ActionError("not_blocked", _("You have not blocked this member."), status=404)


# ---------------------------------------------------------------------------
# Walls
# ---------------------------------------------------------------------------


def _too_long(field: str, limit: int) -> ActionError:
    return ActionError(
        "too_long",
        _("This text is too long: at most %(limit)d characters.") % {"limit": limit},
        field=field,
    )


def _clean_text(text: str, *, limit: int) -> str:
    text = clean_multiline_text(text, field="text")
    if not text:
        raise ActionError("empty", _("Write something first."), field="text")
    if len(text) > limit:
        raise _too_long("text", limit)
    return text



def _too_many_links_message() -> str:
    """Why a new member's post is refused; under the default limit of no links at all,
    without an "at most 0"."""
    days = settings.NEW_MEMBER_PERIOD_DAYS
    if settings.NEW_MEMBER_MAX_LINKS_PER_POST == 0:
        return ngettext(
            "New members cannot post links in their first %(days)d day.",
            "New members cannot post links in their first %(days)d days.",
            days,
        ) % {"days": days}
    return ngettext(
        "New members cannot post links yet (at most %(count)d per post in "
        "your first %(days)d day).",
        "New members cannot post links yet (at most %(count)d per post in "
        "your first %(days)d days).",
        days,
    ) % {"count": settings.NEW_MEMBER_MAX_LINKS_PER_POST, "days": days}

def do_post_on_wall(
    *, author: Member, wall_owner_id: int, text: str, ip_address: str | None = None,
    idempotency_key: str | None = None,
) -> WallPost:
    """A post on a member's own wall or a friend's; new members post fewer, and
    fewer links. Sent again with its ``idempotency_key``, the first post (see
    idempotency.py)."""
    submission = idempotency.submission(
        member_id=author.id, operation=IdempotentOperation.WALL_POST, key=idempotency_key,
        request=(wall_owner_id, text),
    )
    posts = WallPost.objects.select_related("author")
    earlier = idempotency.earlier_result(submission, posts)
    if earlier is not None:
        return earlier
    check_may_write(author)
    text = _clean_text(text, limit=settings.WALL_POST_MAX_LENGTH)
    owner = author
    if wall_owner_id != author.id:
        # A member who left is refused as for a message or a friend request (410).
        owner, relation = _other_with_relation(author, wall_owner_id)
        if relation.blocked:
            raise _refuse_blocked()
        if not relation.friends:
            raise ActionError(
                "not_friends", _("Only friends may post on this wall."), status=403
            )
    actions = ["wall_post"]
    if is_new_member(author):
        if count_links(text) > settings.NEW_MEMBER_MAX_LINKS_PER_POST:
            raise ActionError(
                "too_many_links", _too_many_links_message(), field="text", status=403
            )
        actions.append("new_member_wall_post")
    enforce_rate_limit(actions, Subject(member_id=author.id, ip=ip_address))
    try:
        with transaction.atomic():
            if owner.id != author.id:
                _lock_pair_unblocked(author.id, owner.id)
            else:
                hold_members(author.id)
            post = WallPost.objects.create(wall_owner=owner, author=author, text=text)
            idempotency.remember(submission, result_id=post.id)
    except idempotency.KeyTaken:
        return idempotency.result_of_taken_key(submission, posts)
    return post


def do_delete_wall_post(*, member: Member, post_id: int) -> None:
    """The author or the owner of the wall deletes a post."""
    with transaction.atomic():
        post = WallPost.objects.select_for_update().filter(id=post_id).first()
        if post is None:
            raise ActionError("post_not_found", _("There is no such post."), status=404)
        if member.id not in (post.author_id, post.wall_owner_id):
            raise ActionError(
                "not_allowed",
                _("Only the author or the owner of the wall can delete a post."),
                status=403,
            )
        post.delete()


def remove_profile_content(*, member_id: int) -> bool:
    """A moderator empties a reported profile: its about text and avatar go. Runs in
    the caller's transaction; false if there was nothing to remove."""
    profile = Profile.objects.select_for_update().filter(member_id=member_id).first()
    if profile is None or not (profile.about or profile.avatar):
        return False
    previous = profile.avatar
    profile.about = ""
    profile.avatar = ""
    profile.save(update_fields=["about", "avatar"])
    transaction.on_commit(lambda: delete_avatar_file(previous))
    return True


# ---------------------------------------------------------------------------
# Private messages
# ---------------------------------------------------------------------------


def _conversation_between(member: Member, other: Member) -> Conversation:
    existing = (
        Participant.objects.filter(member=member, other=other)
        .select_related("conversation").first()
    )
    if existing is not None:
        return existing.conversation
    now = clock.now()
    first, second = sorted((member, other), key=lambda side: side.id)  # one lock order
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(created_at=now)
            Participant.objects.bulk_create([
                Participant(conversation=conversation, member=first, other=second,
                            last_message_at=now),
                Participant(conversation=conversation, member=second, other=first,
                            last_message_at=now),
            ])
    except IntegrityError:  # the other member started it at the same moment
        return Participant.objects.get(member=member, other=other).conversation
    return conversation


def do_send_message(
    *, sender: Member, recipient_id: int, text: str, ip_address: str | None = None,
    idempotency_key: str | None = None,
) -> Message:
    """Sent again with its ``idempotency_key``, the first message (see
    idempotency.py)."""
    submission = idempotency.submission(
        member_id=sender.id, operation=IdempotentOperation.MESSAGE, key=idempotency_key,
        request=(recipient_id, text),
    )
    earlier = idempotency.earlier_result(submission, Message.objects.all())
    if earlier is not None:
        return earlier
    check_may_write(sender)
    text = _clean_text(text, limit=settings.MESSAGE_MAX_LENGTH)
    recipient, relation = _other_with_relation(sender, recipient_id)
    if relation.blocked:
        raise _refuse_blocked()
    friends = relation.friends
    if not relation.may_message:
        raise ActionError(
            "messages_from_friends_only",
            _("This member accepts messages from friends only."),
            status=403,
        )
    actions = ["message"]
    if not friends and is_new_member(sender):
        actions.append("new_member_message_to_stranger")
    enforce_rate_limit(actions, Subject(member_id=sender.id, ip=ip_address))
    try:
        message = _send_message(sender, recipient, text, submission)
    except idempotency.KeyTaken:
        return idempotency.result_of_taken_key(submission, Message.objects.all())
    return message


def _send_message(
    sender: Member, recipient: Member, text: str, submission: idempotency.Submission | None
) -> Message:
    with transaction.atomic():
        _lock_pair_unblocked(sender.id, recipient.id)
        conversation = _conversation_between(sender, recipient)
        message = Message.objects.create(conversation=conversation, sender=sender, text=text)
        # Both inboxes in one UPDATE, under the pair's lock: two messages both ways at
        # once never lock the two rows in opposite orders. Writing back means having
        # read what came before.
        Participant.objects.filter(conversation=conversation).update(
            last_message=message, last_message_at=message.created_at,
            unread_count=Case(When(member=sender, then=0),
                              default=F("unread_count") + 1),
            last_read_message_id=Case(When(member=sender, then=message.id),
                                      default=F("last_read_message_id"),
                                      output_field=BigIntegerField()),
        )
        idempotency.remember(submission, result_id=message.id)
    return message


def do_mark_conversation_read(
    *, member: Member, other_id: int, up_to: int | None = None
) -> int:
    """Mark what the other member wrote as read: up to the message id ``up_to`` (the
    newest the member was shown), or all so far. One that arrived after the page or
    list was shown stays unread, and unread to its sender. Returns how many messages
    were marked."""
    with transaction.atomic():
        participant = (
            Participant.objects.select_for_update().filter(member=member, other_id=other_id)
            .first()
        )
        if participant is None:
            raise ActionError(
                "no_conversation", _("You have no conversation with this member."),
                status=404,
            )
        newest = participant.last_message_id or 0
        read_up_to = newest if up_to is None else min(up_to, newest)
        if read_up_to <= participant.last_read_message_id:
            return 0
        # Those of the other's still unread after it (none when it is the newest).
        still_unread = 0 if read_up_to >= newest else Message.objects.filter(
            conversation_id=participant.conversation_id, id__gt=read_up_to,
        ).exclude(sender_id=member.id).count()
        marked = max(participant.unread_count - still_unread, 0)
        participant.unread_count = min(participant.unread_count, still_unread)
        participant.last_read_message_id = read_up_to
        participant.save(update_fields=["unread_count", "last_read_message_id"])
    return marked


def remove_message(*, message_id: int) -> bool:
    """A moderator removes a reported message: the recipient's unread count and both
    inboxes' last message (its text, its time, the conversation's place in the inbox)
    follow. Runs in the caller's transaction; false if the message was already gone."""
    message = Message.objects.select_for_update().filter(id=message_id).first()
    if message is None:
        return False
    conversation_id = message.conversation_id
    Participant.objects.filter(
        conversation_id=conversation_id, unread_count__gt=0,
        last_read_message_id__lt=message.id,
    ).exclude(member_id=message.sender_id).update(unread_count=F("unread_count") - 1)
    message.delete()  # inboxes that showed it now show nothing (SET_NULL)…
    newest = Message.objects.filter(conversation_id=conversation_id).order_by("-id").first()
    if newest is not None:  # …until they show the message before it
        Participant.objects.filter(
            conversation_id=conversation_id, last_message__isnull=True
        ).update(last_message=newest, last_message_at=newest.created_at)
    return True
