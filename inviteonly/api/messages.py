"""/api/conversations: the inbox with unread counts, one conversation a page at a
time, sending, read marks."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from inviteonly.accounts.models import shown_name
from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.profiles import MemberCard, MemberIdPath
from inviteonly.api.schemas import ERRORS, RATE_LIMITED_ERRORS, IdempotencyKeyHeader
from inviteonly.api.walls import KeysetIn, api_response
from inviteonly.lib.converters import MAX_ROW_ID
from inviteonly.lib.web import client_ip
from inviteonly.social.actions import do_mark_conversation_read, do_send_message
from inviteonly.social.avatars import avatar_url_of
from inviteonly.social.models import Message
from inviteonly.social.queries import (
    InboxCursor,
    conversation_with,
    inbox_page,
    page_before,
    page_size,
)

router = Router(auth=session_bearer)


class LastMessageOut(Schema):
    id: int
    mine: bool
    text: str
    created_at: datetime


class ConversationOut(Schema):
    """One row of the inbox."""

    member: MemberCard
    unread_count: int
    last_message: LastMessageOut | None
    last_message_at: datetime



class MessageOut(Schema):
    id: int
    mine: bool
    text: str
    created_at: datetime
    # For my messages: whether the other member has read it; null once they left the
    # network (what they read left with them: neither read nor unread). For theirs:
    # always true.
    read: bool | None


class ConversationPageOut(Schema):
    member: MemberCard
    unread_count: int
    messages: list[MessageOut]
    next_before: int | None


class MessageIn(Schema):
    text: str = Field(max_length=settings.MESSAGE_MAX_LENGTH)


class ReadOut(Schema):
    marked_read: int


class ReadUpToIn(Schema):
    # The id of the newest message the member was shown: those that came since stay
    # unread. Left out: every message so far is marked read.
    up_to: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)


def message_out(message: Message, *, member_id: int, read_up_to: int | None) -> MessageOut:
    """``read_up_to``: ``ConversationPage.read_by_other_up_to`` (None: no read state)."""
    mine = message.sender_id == member_id
    read = True if not mine else None if read_up_to is None else message.id <= read_up_to
    return MessageOut(id=message.id, mine=mine, text=message.text,
                      created_at=message.created_at, read=read)


class InboxIn(Schema):
    """A page of the inbox: pass the previous page's ``next_before``."""

    before: str | None = Field(default=None, pattern=InboxCursor.PATTERN)
    limit: int = Field(default=settings.SOCIAL_PAGE_SIZE, ge=1,
                       le=settings.NINJA_PAGINATION_MAX_LIMIT)


class InboxOut(Schema):
    items: list[ConversationOut]
    # Ask for the next page with ?before=<next_before>; null on the last page. A
    # conversation that gets a message meanwhile moves to the first page: it is not
    # listed again, and no other is skipped.
    next_before: str | None


@router.get("", response={200: InboxOut, **ERRORS},
            summary="My inbox: conversations, most recent first, with unread counts")
def inbox(request: HttpRequest, page: Query[InboxIn]) -> HttpResponse:
    member = authenticated_member(request)
    rows = inbox_page(member, before=InboxCursor.parse(page.before), limit=page.limit + 1)
    # Plain data, rendered without a second validation (see get_wall).
    return api_response(request, {
        "items": [{
            "member": {"id": row["other_id"], "display_name": shown_name(row["other_display_name"]),
                       "avatar_url": avatar_url_of(row["other_avatar"])},
            "unread_count": row["unread_count"],
            "last_message": None if row["last_message_id"] is None else {
                "id": row["last_message_id"],
                "mine": row["last_message_sender_id"] == member.id,
                "text": row["last_message_text"],
                "created_at": row["last_message_created_at"],
            },
            "last_message_at": row["last_message_at"],
        } for row in rows[:page.limit]],
        "next_before": (str(InboxCursor.after(rows[page.limit - 1]))
                        if len(rows) > page.limit else None),
    })


@router.get("/{member_id}", response={200: ConversationPageOut, **ERRORS},
            summary="My conversation with a member, newest first")
def get_conversation(
    request: HttpRequest, page: Query[KeysetIn], member_id: int = MemberIdPath
) -> ConversationPageOut:
    member = authenticated_member(request)
    conversation = conversation_with(member, member_id)
    limit = page_size(page.limit)
    rows, next_before = page_before(conversation.messages, page.before, limit)
    return ConversationPageOut(
        member=MemberCard.of(conversation.other),
        unread_count=conversation.participant.unread_count if conversation.participant else 0,
        messages=[message_out(row, member_id=member.id,
                              read_up_to=conversation.read_by_other_up_to) for row in rows],
        next_before=next_before,
    )


@router.post("/{member_id}", response={201: MessageOut, **RATE_LIMITED_ERRORS},
             summary="Send a member a message")
def send_message(
    request: HttpRequest, payload: MessageIn, member_id: int = MemberIdPath,
    idempotency_key: str | None = IdempotencyKeyHeader,
) -> tuple[int, MessageOut]:
    member = authenticated_member(request)
    message = do_send_message(sender=member, recipient_id=member_id, text=payload.text,
                              ip_address=client_ip(request), idempotency_key=idempotency_key)
    return 201, message_out(message, member_id=member.id, read_up_to=0)


@router.post("/{member_id}/read", response={200: ReadOut, **ERRORS},
             summary="Mark the conversation read")
def mark_read(
    request: HttpRequest, shown: Query[ReadUpToIn], member_id: int = MemberIdPath
) -> ReadOut:
    return ReadOut(marked_read=do_mark_conversation_read(
        member=authenticated_member(request), other_id=member_id, up_to=shown.up_to))
