"""/api/friends, /api/friend-requests, /api/blocks: friends, requests, mutual friends,
blocking."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.pagination import paginate

from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.pagination import BoundedLimitOffsetPagination
from inviteonly.api.profiles import MemberCard, MemberIdField, MemberIdPath
from inviteonly.api.schemas import ERRORS, RATE_LIMITED_ERRORS
from inviteonly.social.actions import (
    do_accept_friend_request,
    do_block_member,
    do_cancel_friend_request,
    do_decline_friend_request,
    do_remove_friend,
    do_send_friend_request,
    do_unblock_member,
)
from inviteonly.social.models import Block, FriendRequest, Friendship
from inviteonly.social.queries import (
    blocked_members,
    friends_of,
    incoming_friend_requests,
    mutual_friends,
    outgoing_friend_requests,
)
from inviteonly.social.rules import access_member

router = Router(auth=session_bearer)


class FriendOut(Schema):
    member: MemberCard
    since: datetime

    # Built from Friendship rows (paginated querysets): friend and profile come with
    # them through select_related.
    @staticmethod
    def resolve_member(friendship: Friendship) -> MemberCard:
        return MemberCard.of(friendship.friend)

    @staticmethod
    def resolve_since(friendship: Friendship) -> datetime:
        return friendship.created_at


class FriendRequestOut(Schema):
    member: MemberCard
    created_at: datetime


class FriendRequestsOut(Schema):
    incoming: list[FriendRequestOut]
    outgoing: list[FriendRequestOut]


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

    @staticmethod
    def resolve_member(block: Block) -> MemberCard:
        return MemberCard.of(block.blocked)


def _request_out(request: FriendRequest, *, incoming: bool) -> FriendRequestOut:
    other = request.sender if incoming else request.recipient
    return FriendRequestOut(member=MemberCard.of(other), created_at=request.created_at)


@router.get("/friends", response={200: list[FriendOut], **ERRORS}, summary="My friends")
@paginate(BoundedLimitOffsetPagination)
def my_friends(request: HttpRequest) -> list[FriendOut]:
    return friends_of(authenticated_member(request))  # type: ignore[return-value]


@router.get("/members/{member_id}/friends", response={200: list[FriendOut], **ERRORS},
            summary="A member's friends")
@paginate(BoundedLimitOffsetPagination)
def member_friends(request: HttpRequest, member_id: int = MemberIdPath) -> list[FriendOut]:
    return friends_of(access_member(member_id))  # type: ignore[return-value]


@router.get("/members/{member_id}/mutual-friends", response={200: list[FriendOut], **ERRORS},
            summary="Friends I share with a member")
@paginate(BoundedLimitOffsetPagination)
def member_mutual_friends(request: HttpRequest, member_id: int = MemberIdPath) -> list[FriendOut]:
    return mutual_friends(authenticated_member(request), access_member(member_id))  # type: ignore[return-value]


@router.delete("/friends/{member_id}", response={204: None, **ERRORS},
               summary="Stop being friends")
def remove_friend(request: HttpRequest, member_id: int = MemberIdPath) -> tuple[int, None]:
    do_remove_friend(member=authenticated_member(request), friend_id=member_id)
    return 204, None


@router.get("/friend-requests", response={200: FriendRequestsOut, **ERRORS},
            summary="Friend requests to me and from me")
def friend_requests(request: HttpRequest) -> FriendRequestsOut:
    member = authenticated_member(request)
    return FriendRequestsOut(
        incoming=[_request_out(row, incoming=True)
                  for row in incoming_friend_requests(member)[:100]],
        outgoing=[_request_out(row, incoming=False)
                  for row in outgoing_friend_requests(member)[:100]],
    )


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


@router.get("/blocks", response={200: list[BlockOut], **ERRORS},
            summary="Members I block")
@paginate(BoundedLimitOffsetPagination)
def blocks(request: HttpRequest) -> list[BlockOut]:
    return blocked_members(authenticated_member(request))  # type: ignore[return-value]


@router.post("/blocks", response={204: None, **ERRORS}, summary="Block a member")
def block(request: HttpRequest, payload: BlockIn) -> tuple[int, None]:
    do_block_member(member=authenticated_member(request), blocked_id=payload.member_id)
    return 204, None


@router.delete("/blocks/{member_id}", response={204: None, **ERRORS}, summary="Unblock a member")
def unblock(request: HttpRequest, member_id: int = MemberIdPath) -> tuple[int, None]:
    do_unblock_member(member=authenticated_member(request), blocked_id=member_id)
    return 204, None
