"""Reading the social layer: profiles with the viewer's relation, walls, friend lists,
the inbox and conversations. Every list is a fixed number of queries, whatever its
length (tests/test_social_queries.py pins them).

A banned member's posts, conversations, friendships and friend requests are left out
of every list, as their profile is (``access_member``): while the ban lasts, and back
when it is lifted (nothing is deleted). Each list already joins the other member by
primary key, so the test on their status costs no query and keeps the list's index."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar, overload

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from inviteonly.abuse.actions import enforce_rate_limit
from inviteonly.abuse.limiter import Subject
from inviteonly.accounts.models import Member
from inviteonly.lib import crypto
from inviteonly.lib.converters import MAX_ROW_ID
from inviteonly.lib.errors import ActionError
from inviteonly.lib.phone_numbers import normalize_phone_number
from inviteonly.lib.queries import fetch_dicts
from inviteonly.social.models import (
    Block,
    FriendRequest,
    Friendship,
    Message,
    Participant,
    Profile,
    WallPost,
)
from inviteonly.social.rules import (
    access_member,
    may_message,
    may_see_wall,
    may_write,
    member_with_profile_query,
    profile_of,
)


@dataclass(frozen=True)
class Relation:
    """How the viewer stands with another member, and what they may do there."""

    is_self: bool
    friends: bool
    request_sent: bool
    request_received: bool
    blocked_by_me: bool
    blocks_me: bool
    may_see_wall: bool
    # Posting and writing are also closed to a viewer who may not write at all
    # (``rules.may_write``: quarantined).
    may_post: bool
    may_message: bool

    @property
    def blocked(self) -> bool:
        """Whether either of the two blocks the other."""
        return self.blocked_by_me or self.blocks_me

    @property
    def may_see_profile(self) -> bool:
        """A member's about text and friends are hidden from a member they block, who
        sees their name and avatar only (``visible_friends_owner``). The blocker still
        sees the blocked member's page, and the button to unblock."""
        return not self.blocks_me


@dataclass(frozen=True)
class ProfilePage:
    member: Member
    profile: Profile
    relation: Relation
    # None: hidden from the viewer (``Relation.may_see_profile``).
    friend_count: int | None
    mutual_friend_count: int | None


# How the viewer stands with another member: five EXISTS, each on a unique pair index,
# read with the member and their profile in one query of hand-written SQL — the ORM
# would spend longer compiling it than the database takes to answer (it is read on
# every profile, wall, friend request and message).
_MEMBER_FOR_VIEWER = member_with_profile_query(
    is_friend="""EXISTS (SELECT 1 FROM social_friendship
                 WHERE member_id = %(viewer)s AND friend_id = m.id)""",
    request_sent="""EXISTS (SELECT 1 FROM social_friendrequest
                    WHERE sender_id = %(viewer)s AND recipient_id = m.id)""",
    request_received="""EXISTS (SELECT 1 FROM social_friendrequest
                        WHERE sender_id = m.id AND recipient_id = %(viewer)s)""",
    blocked_by_me="""EXISTS (SELECT 1 FROM social_block
                     WHERE blocker_id = %(viewer)s AND blocked_id = m.id)""",
    blocks_me="""EXISTS (SELECT 1 FROM social_block
                 WHERE blocker_id = m.id AND blocked_id = %(viewer)s)""",
)


def member_for_viewer(viewer: Member, member_id: int) -> tuple[Member, Relation]:
    """Another member (not banned) with their profile and how the viewer stands with
    them, in one query."""
    member = access_member(member_id, query=_MEMBER_FOR_VIEWER, params={"viewer": viewer.id})
    is_self = viewer.id == member.id
    is_friend, request_sent, request_received, blocked_by_me, blocks_me = (
        bool(getattr(member, name)) and not is_self
        for name in ("is_friend", "request_sent", "request_received", "blocked_by_me",
                     "blocks_me")
    )
    friends, blocked = is_friend, blocked_by_me or blocks_me
    profile = profile_of(member)
    # Nobody posts to or writes to a member who left (social.rules.check_not_left).
    staying = member.status != Member.Status.LEFT
    # Nor does a quarantined viewer (social.rules.check_may_write).
    writing = staying and may_write(viewer)
    return member, Relation(
        is_self=is_self,
        friends=friends,
        request_sent=request_sent,
        request_received=request_received,
        blocked_by_me=blocked_by_me,
        blocks_me=blocks_me,
        may_see_wall=may_see_wall(viewer=viewer, owner=member, profile=profile,
                                  friends=friends, blocked=blocked),
        may_post=writing and (is_self or (friends and not blocked)),
        may_message=writing and not is_self and may_message(
            profile=profile, friends=friends, blocked=blocked
        ),
    )


def profile_page(viewer: Member, member_id: int) -> ProfilePage:
    member, relation = member_for_viewer(viewer, member_id)
    profile = profile_of(member)
    if not relation.may_see_profile:
        return ProfilePage(member=member, profile=profile, relation=relation,
                           friend_count=None, mutual_friend_count=None)
    friend_ids = Friendship.objects.filter(member_id=viewer.id).values("friend_id")
    return ProfilePage(
        member=member,
        profile=profile,
        relation=relation,
        friend_count=_listed_friendships(member).count(),
        mutual_friend_count=(
            0 if viewer.id == member.id
            else _listed_friendships(member).filter(friend_id__in=friend_ids).count()
        ),
    )


def profile_hidden() -> ActionError:
    return ActionError(
        "profile_hidden", _("This member's page is not available to you."), status=403
    )


def visible_friends_owner(viewer: Member, member_id: int) -> Member:
    """The member whose friends (or mutual friends) the viewer asks for, if the viewer
    may see them (``Relation.may_see_profile``)."""
    member, relation = member_for_viewer(viewer, member_id)
    if not relation.may_see_profile:
        raise profile_hidden()
    return member


def visible_wall_owner(viewer: Member, member_id: int) -> Member:
    """The member whose wall the viewer asks for, if the viewer may see it."""
    member, relation = member_for_viewer(viewer, member_id)
    if not relation.may_see_wall:
        raise wall_hidden(relation)
    return member


def wall_hidden(relation: Relation) -> ActionError:
    """Why a wall is hidden from the viewer, as the profile page says it: the owner
    blocks them (their page is), the viewer blocks the owner, or it is for friends."""
    if not relation.may_see_profile:
        return profile_hidden()
    if relation.blocked_by_me:
        return ActionError("wall_hidden", _(
            "You block this member: their wall stays hidden from you until you unblock "
            "them."), status=403)
    return ActionError(
        "wall_hidden", _("This member shows their wall to friends only."), status=403
    )


def wall_posts(owner: Member) -> QuerySet[WallPost]:
    """The posts of a wall, newest first, each with its author (and the author's
    profile, for the avatar); banned authors' posts left out. The caller has checked
    that the viewer may see it (``Relation.may_see_wall``, ``visible_wall_owner``)."""
    return (
        WallPost.objects.filter(wall_owner=owner)
        .exclude(author__status=Member.Status.BANNED)
        .select_related("author", "author__profile")
        .order_by("-id")
    )


# Newer than any id: the first page of a newest-first list.
NO_CURSOR = MAX_ROW_ID + 1

# What a page of a list in another order than by id ends with (``keyset_page``).
Cursor = TypeVar("Cursor")

# The API's wall page and inbox page as plain rows (see lib/queries.py): the two most
# read lists of the site (benchmarks/social_reads.py). Pages in HTML read the same
# lists through the ORM (wall_posts, inbox_of), as model instances for the templates.
_WALL_PAGE_SQL = """
SELECT w.id, w.text, w.created_at, w.author_id, w.wall_owner_id,
       a.display_name AS author_display_name, p.avatar AS author_avatar
FROM social_wallpost w
JOIN accounts_member a ON a.id = w.author_id
LEFT JOIN social_profile p ON p.member_id = w.author_id
WHERE w.wall_owner_id = %(owner)s AND w.id < %(before)s AND a.status <> %(banned)s
ORDER BY w.id DESC
LIMIT %(limit)s
"""

_INBOX_PAGE_SQL = """
SELECT pt.id, pt.other_id, o.display_name AS other_display_name, op.avatar AS other_avatar,
       pt.unread_count, pt.last_message_at, pt.last_message_id,
       m.sender_id AS last_message_sender_id, m.text AS last_message_text,
       m.created_at AS last_message_created_at
FROM social_participant pt
JOIN accounts_member o ON o.id = pt.other_id
LEFT JOIN social_profile op ON op.member_id = pt.other_id
LEFT JOIN social_message m ON m.id = pt.last_message_id
WHERE pt.member_id = %(member)s AND o.status <> %(banned)s
  AND (pt.last_message_at < %(before_at)s
       OR (pt.last_message_at = %(before_at)s AND pt.id < %(before_id)s))
ORDER BY pt.last_message_at DESC, pt.id DESC
LIMIT %(limit)s
"""


def wall_page(owner: Member, *, before_id: int | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` posts of the wall older than ``before_id``, newest first, with
    their authors' names and avatars (check the viewer with visible_wall_owner first);
    what ``wall_posts`` lists."""
    return fetch_dicts(
        _WALL_PAGE_SQL,
        {"owner": owner.id, "before": before_id or NO_CURSOR, "limit": limit,
         "banned": Member.Status.BANNED},
        datetimes=["created_at"],
    )


def inbox_page(
    member: Member, *, before: InboxCursor | None, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` of the member's conversations after ``before`` (None: from the
    most recent), most recent first (index ``inbox_recent``), each with the other member
    and the last message; what ``inbox_of`` lists."""
    before = before or _INBOX_START
    return fetch_dicts(
        _INBOX_PAGE_SQL,
        {"member": member.id, "before_at": before.last_message_at, "before_id": before.id,
         "limit": limit, "banned": Member.Status.BANNED},
        datetimes=["last_message_at", "last_message_created_at"],
    )


def before(queryset: QuerySet[Any], before_id: int | None, *, key: str = "id") -> QuerySet[Any]:
    """Keyset pagination on id (or another unique integer ``key`` the list is ordered
    by, descending): the rows older than ``before_id``."""
    return queryset if before_id is None else queryset.filter(**{f"{key}__lt": before_id})


def page_before(
    queryset: QuerySet[Any], before_id: int | None, limit: int, *, key: str = "id"
) -> tuple[list[Any], int | None]:
    """One page of a list newest first by id (or ``key``: the moderation queue's items
    by their newest report): up to ``limit`` rows older than ``before_id`` (None: the
    newest), and the next page's cursor (``keyset_page``)."""
    rows = list(before(queryset, before_id, key=key)[:limit + 1])
    return keyset_page(rows, limit, cursor=lambda row: _value(row, key))


def _value(row: Any, key: str) -> Any:
    return row[key] if isinstance(row, dict) else getattr(row, key)


@overload
def keyset_page(rows: list[Any], limit: int) -> tuple[list[Any], int | None]: ...


@overload
def keyset_page(
    rows: list[Any], limit: int, *, cursor: Callable[[Any], Cursor]
) -> tuple[list[Any], Cursor | None]: ...


def keyset_page(
    rows: list[Any], limit: int, *, cursor: Callable[[Any], Any] | None = None
) -> tuple[list[Any], Any]:
    """Split ``limit + 1`` fetched rows (models, value dicts or anything with an ``id``)
    of a list into the page and the next page's cursor: the last row's id (a list
    newest first by id: ``before``), or what ``cursor`` makes of the last row (a list
    in another order: ``FriendCursor.after``); None on the last page."""
    if len(rows) > limit:
        last = rows[limit - 1]
        return rows[:limit], _value(last, "id") if cursor is None else cursor(last)
    return rows, None


def _listed_friendships(member: Member) -> QuerySet[Friendship]:
    """The member's friendships with members who are not banned."""
    return Friendship.objects.filter(member=member).exclude(
        friend__status=Member.Status.BANNED
    )


def friends_of(member: Member) -> QuerySet[Friendship]:
    return (
        _listed_friendships(member)
        .select_related("friend", "friend__profile")
        .order_by("friend__display_name", "friend_id")
    )


def mutual_friends(viewer: Member, member: Member) -> QuerySet[Friendship]:
    viewer_friends = Friendship.objects.filter(member_id=viewer.id).values("friend_id")
    return friends_of(member).filter(friend_id__in=viewer_friends)


@dataclass(frozen=True)
class FriendCursor:
    """Where a page of a friend list (``friends_of``, ``mutual_friends``: by name, then
    id) ends: its last friend's name and id. The next page starts after it, so a friend
    added or removed between two pages neither repeats nor skips another, as an offset
    would."""

    display_name: str
    id: int

    # In a URL: "<id>-<name>", the name as it was listed (it may hold "-" too; no
    # control character, which no name holds and PostgreSQL cannot compare: a NUL).
    PATTERN: ClassVar[str] = (
        rf"^[0-9]{{1,19}}-[^\x00-\x1f\x7f]{{0,{settings.DISPLAY_NAME_MAX_LENGTH}}}$"
    )

    @staticmethod
    def after(friendship: Friendship) -> FriendCursor:
        return FriendCursor(display_name=friendship.friend.display_name,
                            id=friendship.friend_id)

    @staticmethod
    def parse(text: str | None) -> FriendCursor | None:
        """The cursor ``str`` wrote; None for anything else."""
        if text is None or not re.fullmatch(FriendCursor.PATTERN, text):
            return None
        row_id, display_name = text.split("-", 1)
        return FriendCursor(display_name=display_name, id=min(int(row_id), NO_CURSOR))

    def __str__(self) -> str:
        return f"{self.id}-{self.display_name}"


def friends_page(
    friendships: QuerySet[Friendship], *, after: FriendCursor | None, limit: int
) -> tuple[list[Friendship], FriendCursor | None]:
    """Up to ``limit`` of a friend list (``friends_of``, ``mutual_friends``) after
    ``after`` (None: from the first), and the next page's cursor (None on the last)."""
    if after is not None:
        friendships = friendships.filter(
            Q(friend__display_name__gt=after.display_name)
            | Q(friend__display_name=after.display_name, friend_id__gt=after.id)
        )
    return keyset_page(list(friendships[:limit + 1]), limit, cursor=FriendCursor.after)


def incoming_friend_requests(member: Member) -> QuerySet[FriendRequest]:
    """Requests to the member, newest first by id (paged with ``before``)."""
    return (
        FriendRequest.objects.filter(recipient=member)
        .exclude(sender__status=Member.Status.BANNED)
        .select_related("sender", "sender__profile")
        .order_by("-id")
    )


def outgoing_friend_requests(member: Member) -> QuerySet[FriendRequest]:
    """Requests from the member, newest first by id (paged with ``before``)."""
    return (
        FriendRequest.objects.filter(sender=member)
        .exclude(recipient__status=Member.Status.BANNED)
        .select_related("recipient", "recipient__profile")
        .order_by("-id")
    )


def blocked_members(member: Member) -> QuerySet[Block]:
    return (
        Block.objects.filter(blocker=member)
        .select_related("blocked", "blocked__profile")
        .order_by("-id")
    )


@dataclass(frozen=True)
class InboxCursor:
    """Where a page of the inbox ends: its last conversation's place in the inbox's
    order (``last_message_at``, ``id``). The next page starts after it, so a
    conversation that a new message moves to the top between two pages is neither
    listed twice nor pushes another off the list, as an offset would."""

    last_message_at: datetime
    id: int

    # In a URL: "<microseconds since 1970>-<id>", ASCII digits only (``\d`` took
    # digits of any script, and ``re.match``'s ``$`` a line break after them).
    PATTERN: ClassVar[str] = r"^[0-9]{1,16}-[0-9]{1,19}$"

    @staticmethod
    def after(row: Participant | dict[str, Any]) -> InboxCursor:
        if isinstance(row, dict):
            return InboxCursor(last_message_at=row["last_message_at"], id=row["id"])
        return InboxCursor(last_message_at=row.last_message_at, id=row.id)

    @staticmethod
    def parse(text: str | None) -> InboxCursor | None:
        """The cursor ``str`` wrote; None for anything else."""
        if text is None or not re.fullmatch(InboxCursor.PATTERN, text):
            return None
        micros, row_id = text.split("-")
        return InboxCursor(last_message_at=moment_in_cursor(int(micros)),
                           id=min(int(row_id), NO_CURSOR))  # past every id is past them all

    def __str__(self) -> str:
        return f"{cursor_micros(self.last_message_at)}-{self.id}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def cursor_micros(moment: datetime) -> int:
    """A moment as a cursor writes it: microseconds since 1970 (up to 16 digits)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def moment_in_cursor(micros: int) -> datetime:
    """The moment ``cursor_micros`` wrote."""
    return _EPOCH + timedelta(microseconds=micros)
# Before every conversation: the first page.
_INBOX_START = InboxCursor(last_message_at=datetime(9999, 12, 31, tzinfo=UTC), id=NO_CURSOR)


def inbox_before(
    queryset: QuerySet[Participant], before: InboxCursor | None
) -> QuerySet[Participant]:
    """Keyset pagination of ``inbox_of``: the conversations after ``before``."""
    if before is None:
        return queryset
    return queryset.filter(
        Q(last_message_at__lt=before.last_message_at)
        | Q(last_message_at=before.last_message_at, id__lt=before.id)
    )


def inbox_of(member: Member) -> QuerySet[Participant]:
    """The member's conversations, most recent first (index ``inbox_recent``), each
    with the other member and the last message; banned members' left out."""
    return (
        Participant.objects.filter(member=member)
        .exclude(other__status=Member.Status.BANNED)
        .select_related("other", "other__profile", "last_message")
        .order_by("-last_message_at", "-id")
    )


@dataclass(frozen=True)
class ConversationPage:
    other: Member
    # How the member stands with the other: whether they may write (``may_message``).
    relation: Relation
    participant: Participant | None
    # The newest message of ours the other member has read (for read marks); None once
    # they left the network: no read state.
    read_by_other_up_to: int | None
    messages: QuerySet[Message]


def conversation_with(member: Member, other_id: int) -> ConversationPage:
    """Messages between the member and another, newest first (index
    ``conversation_newest``)."""
    other, relation = member_for_viewer(member, other_id)
    if relation.is_self:
        raise ActionError("self", _("That is you."), status=400)
    sides = {
        row.member_id: row
        for row in Participant.objects.filter(member_id__in=[member.id, other.id],
                                              other_id__in=[member.id, other.id])
    }
    mine, theirs = sides.get(member.id), sides.get(other.id)
    messages = (
        Message.objects.filter(conversation_id=mine.conversation_id).order_by("-id")
        if mine else Message.objects.none()
    )
    return ConversationPage(
        other=other,
        relation=relation,
        participant=mine,
        # Leaving deleted their side: what they read is gone, and nothing is unread to
        # them any more (None: no read state, neither read nor unread).
        read_by_other_up_to=(
            None if other.status == Member.Status.LEFT
            else theirs.last_read_message_id if theirs else 0
        ),
        messages=messages,
    )


def page_size(limit: int | None) -> int:
    if limit is None:
        return settings.SOCIAL_PAGE_SIZE
    return max(1, min(limit, settings.NINJA_PAGINATION_MAX_LIMIT))


def findable_member_by_phone(phone: str, *, region_hint: str | None = None) -> Member | None:
    """The member with this number, only if they chose to be findable by it (the
    invitation flow may ask the same)."""
    number = normalize_phone_number(phone, region_hint=region_hint)
    return (
        Member.objects.filter(
            phone_blind_index=crypto.blind_index(number.e164), profile__findable_by_phone=True
        )
        .exclude(status=Member.Status.BANNED)
        .first()
    )


def access_member_by_phone(viewer: Member, phone: str, *, region_hint: str | None = None) -> Member:
    """Find a member by number for ``viewer`` (rate limited: numbers must not be
    tried in bulk). Members who are not findable get the same answer as numbers
    without an account."""
    enforce_rate_limit(["find_by_phone"], Subject(member_id=viewer.id))
    found = findable_member_by_phone(phone, region_hint=region_hint)
    if found is None:
        raise ActionError(
            "not_found_by_phone", _("Nobody can be found by this number."), status=404
        )
    return found
