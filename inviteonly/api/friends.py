"""/api/friends, /api/friend-requests, /api/blocks: friends, requests, mutual friends,
blocking."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.profiles import MemberCard, MemberIdField, MemberIdPath
from inviteonly.api.schemas import ERRORS, RATE_LIMITED_ERRORS
from inviteonly.api.walls import KeysetIn
from inviteonly.social.actions import (
    do_accept_friend_request,
    do_block_member,
    do_cancel_friend_request,
    do_decline_friend_request,
    do_remove_friend,
    do_send_friend_request,
    do_unblock_member,
)
from inviteonly.social.models import FriendRequest, Friendship
from inviteonly.social.queries import (
    FriendCursor,
    blocked_members,
    friends_of,
    friends_page,
    incoming_friend_requests,
    mutual_friends,
    outgoing_friend_requests,
    page_before,
    visible_friends_owner,
)

router = Router(auth=session_bearer)


class FriendOut(Schema):
    member: MemberCard
    since: datetime


class FriendsIn(Schema):
    """A page of a friend list, by name: pass the previous page's ``next_after``."""

    after: str | None = Field(default=None, pattern=FriendCursor.PATTERN)
    limit: int = Field(default=settings.SOCIAL_PAGE_SIZE, ge=1,
                       le=settings.NINJA_PAGINATION_MAX_LIMIT)


class FriendPageOut(Schema):
    """By name, then id: a friend added or removed between two pages neither repeats
    nor skips another."""

    items: list[FriendOut]
    # Ask for the next page with ?after=<next_after>; null on the last page.
    next_after: str | None


def _friends_out(friendships: QuerySet[Friendship], page: FriendsIn) -> FriendPageOut:
    # Friend and profile come with the rows (friends_of's select_related).
    rows, next_after = friends_page(friendships, after=FriendCursor.parse(page.after),
                                    limit=page.limit)
    return FriendPageOut(
        items=[FriendOut(member=MemberCard.of(row.friend), since=row.created_at)
               for row in rows],
        next_after=None if next_after is None else str(next_after),
    )


class FriendRequestOut(Schema):
    member: MemberCard
    created_at: datetime


class FriendRequestsOut(Schema):
    """The first page of each list, newest first."""

    incoming: list[FriendRequestOut]
    outgoing: list[FriendRequestOut]
    # The rest: GET /api/friend-requests/incoming (or /outgoing) ?before=<this>; null
    # when the list above is all there is.
    incoming_next_before: int | None
    outgoing_next_before: int | None


class FirstPagesIn(Schema):
    """How many of each list: the first page of both."""

    limit: int = Field(default=settings.SOCIAL_PAGE_SIZE, ge=1,
                       le=settings.NINJA_PAGINATION_MAX_LIMIT)


class FriendRequestPageOut(Schema):
    items: list[FriendRequestOut]
    # Ask for the next (older) page with ?before=<next_before>; null on the last page.
    next_before: int | None


class FriendRequestIn(Schema):
    member_id: int = MemberIdField


class FriendRequestSentOut(Schema):
    # True when the other member had asked first: the two are friends now.
    friends: bool


class BlockIn(Schema):
    member_id: int = MemberIdField


class BlockOut(Schema):
    member: MemberCard
    created_at: datetime


class BlockPageOut(Schema):
    """Newest first: a member blocked between two pages goes to the top, and pushes
    none of the next page's onto the one before."""

    items: list[BlockOut]
    # Ask for the next (older) page with ?before=<next_before>; null on the last page.
    next_before: int | None


def _request_out(request: FriendRequest, *, incoming: bool) -> FriendRequestOut:
    other = request.sender if incoming else request.recipient
    return FriendRequestOut(member=MemberCard.of(other), created_at=request.created_at)


@router.get("/friends", response={200: FriendPageOut, **ERRORS},
            summary="My friends, by name")
def my_friends(request: HttpRequest, page: Query[FriendsIn]) -> FriendPageOut:
    return _friends_out(friends_of(authenticated_member(request)), page)


@router.get("/members/{member_id}/friends", response={200: FriendPageOut, **ERRORS},
            summary="A member's friends, by name")
def member_friends(
    request: HttpRequest, page: Query[FriendsIn], member_id: int = MemberIdPath
) -> FriendPageOut:
    return _friends_out(
        friends_of(visible_friends_owner(authenticated_member(request), member_id)), page
    )


@router.get("/members/{member_id}/mutual-friends", response={200: FriendPageOut, **ERRORS},
            summary="Friends I share with a member, by name")
def member_mutual_friends(
    request: HttpRequest, page: Query[FriendsIn], member_id: int = MemberIdPath
) -> FriendPageOut:
    viewer = authenticated_member(request)
    return _friends_out(
        mutual_friends(viewer, visible_friends_owner(viewer, member_id)), page
    )


@router.delete("/friends/{member_id}", response={204: None, **ERRORS},
               summary="Stop being friends")
def remove_friend(request: HttpRequest, member_id: int = MemberIdPath) -> tuple[int, None]:
    do_remove_friend(member=authenticated_member(request), friend_id=member_id)
    return 204, None


def _requests_page(
    rows: QuerySet[FriendRequest], *, incoming: bool, before_id: int | None, limit: int
) -> tuple[list[FriendRequestOut], int | None]:
    page, next_before = page_before(rows, before_id, limit)
    return [_request_out(row, incoming=incoming) for row in page], next_before


@router.get("/friend-requests", response={200: FriendRequestsOut, **ERRORS},
            summary="Friend requests to me and from me: the first page of each")
def friend_requests(request: HttpRequest, page: Query[FirstPagesIn]) -> FriendRequestsOut:
    member = authenticated_member(request)
    incoming, incoming_next_before = _requests_page(
        incoming_friend_requests(member), incoming=True, before_id=None, limit=page.limit)
    outgoing, outgoing_next_before = _requests_page(
        outgoing_friend_requests(member), incoming=False, before_id=None, limit=page.limit)
    return FriendRequestsOut(
        incoming=incoming, outgoing=outgoing,
        incoming_next_before=incoming_next_before, outgoing_next_before=outgoing_next_before,
    )


@router.get("/friend-requests/incoming", response={200: FriendRequestPageOut, **ERRORS},
            summary="Friend requests to me, newest first")
def incoming_requests(request: HttpRequest, page: Query[KeysetIn]) -> FriendRequestPageOut:
    rows, next_before = _requests_page(
        incoming_friend_requests(authenticated_member(request)), incoming=True,
        before_id=page.before, limit=page.limit)
    return FriendRequestPageOut(items=rows, next_before=next_before)


@router.get("/friend-requests/outgoing", response={200: FriendRequestPageOut, **ERRORS},
            summary="Friend requests from me, newest first")
def outgoing_requests(request: HttpRequest, page: Query[KeysetIn]) -> FriendRequestPageOut:
    rows, next_before = _requests_page(
        outgoing_friend_requests(authenticated_member(request)), incoming=False,
        before_id=page.before, limit=page.limit)
    return FriendRequestPageOut(items=rows, next_before=next_before)


@router.post("/friend-requests", response={201: FriendRequestSentOut, **RATE_LIMITED_ERRORS},
             summary="Ask a member to be friends (notifies them)")
def send_friend_request(
    request: HttpRequest, payload: FriendRequestIn
) -> tuple[int, FriendRequestSentOut]:
    friends = do_send_friend_request(
        member=authenticated_member(request), recipient_id=payload.member_id
    )
    return 201, FriendRequestSentOut(friends=friends)


@router.post("/friend-requests/{member_id}/accept", response={204: None, **ERRORS},
             summary="Accept a member's friend request")
def accept(request: HttpRequest, member_id: int = MemberIdPath) -> tuple[int, None]:
    do_accept_friend_request(member=authenticated_member(request), sender_id=member_id)
    return 204, None


@router.post("/friend-requests/{member_id}/decline", response={204: None, **ERRORS},
             summary="Decline a member's friend request")
def decline(request: HttpRequest, member_id: int = MemberIdPath) -> tuple[int, None]:
    do_decline_friend_request(member=authenticated_member(request), sender_id=member_id)
    return 204, None


@router.delete("/friend-requests/{member_id}", response={204: None, **ERRORS},
               summary="Take back my friend request")
def cancel(request: HttpRequest, member_id: int = MemberIdPath) -> tuple[int, None]:
    do_cancel_friend_request(member=authenticated_member(request), recipient_id=member_id)
    return 204, None


@router.get("/blocks", response={200: BlockPageOut, **ERRORS},
            summary="Members I block, newest first")
def blocks(request: HttpRequest, page: Query[KeysetIn]) -> BlockPageOut:
    rows, next_before = page_before(
        blocked_members(authenticated_member(request)), page.before, page.limit
    )
    return BlockPageOut(
        items=[BlockOut(member=MemberCard.of(row.blocked), created_at=row.created_at)
               for row in rows],
        next_before=next_before,
    )


@router.post("/blocks", response={204: None, **ERRORS}, summary="Block a member")
def block(request: HttpRequest, payload: BlockIn) -> tuple[int, None]:
    do_block_member(member=authenticated_member(request), blocked_id=payload.member_id)
    return 204, None


@router.delete("/blocks/{member_id}", response={204: None, **ERRORS}, summary="Unblock a member")
def unblock(request: HttpRequest, member_id: int = MemberIdPath) -> tuple[int, None]:
    do_unblock_member(member=authenticated_member(request), blocked_id=member_id)
    return 204, None
