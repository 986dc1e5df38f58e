"""/api/members/{id}/wall and /api/posts: walls, newest first, a page at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from inviteonly.accounts.models import shown_name
from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.profiles import MemberCard, MemberIdPath
from inviteonly.api.schemas import ERRORS, RATE_LIMITED_ERRORS, IdempotencyKeyHeader
from inviteonly.lib.converters import MAX_ROW_ID
from inviteonly.lib.web import client_ip
from inviteonly.social.actions import do_delete_wall_post, do_post_on_wall
from inviteonly.social.avatars import avatar_url_of
from inviteonly.social.models import WallPost
from inviteonly.social.queries import keyset_page, page_size, visible_wall_owner, wall_page

router = Router(auth=session_bearer)


class KeysetIn(Schema):
    """A page of a list newest first: pass the previous page's ``next_before``."""

    before: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)
    limit: int = Field(default=settings.SOCIAL_PAGE_SIZE, ge=1,
                       le=settings.NINJA_PAGINATION_MAX_LIMIT)


class PostOut(Schema):
    id: int
    author: MemberCard
    text: str
    created_at: datetime
    may_delete: bool


class WallOut(Schema):
    owner: MemberCard
    posts: list[PostOut]
    # Ask for the next (older) page with ?before=<next_before>; null on the last page.
    next_before: int | None


class PostIn(Schema):
    text: str = Field(max_length=settings.WALL_POST_MAX_LENGTH)


def post_out(post: WallPost, *, viewer_id: int) -> PostOut:
    return PostOut(
        id=post.id, author=MemberCard.of(post.author), text=post.text,
        created_at=post.created_at, may_delete=viewer_id in (post.author_id, post.wall_owner_id),
    )


def api_response(request: HttpRequest, data: Any) -> HttpResponse:
    from inviteonly.api import api

    return api.create_response(request, data, status=200)


@router.get("/members/{member_id}/wall", response={200: WallOut, **ERRORS},
            summary="A member's wall, newest first")
def get_wall(
    request: HttpRequest, page: Query[KeysetIn], member_id: int = MemberIdPath
) -> HttpResponse:
    viewer = authenticated_member(request)
    owner = visible_wall_owner(viewer, member_id)
    limit = page_size(page.limit)
    rows, next_before = keyset_page(
        wall_page(owner, before_id=page.before, limit=limit + 1), limit
    )
    # Built as plain data and rendered without a second validation: the wall is the
    # most read list (WallOut documents the shape; tests check it).
    return api_response(request, {
        "owner": MemberCard.of(owner).dict(),
        "posts": [{
            "id": row["id"],
            "author": {"id": row["author_id"],
                       "display_name": shown_name(row["author_display_name"]),
                       "avatar_url": avatar_url_of(row["author_avatar"])},
            "text": row["text"],
            "created_at": row["created_at"],
            "may_delete": viewer.id in (row["author_id"], row["wall_owner_id"]),
        } for row in rows],
        "next_before": next_before,
    })


@router.post("/members/{member_id}/wall", response={201: PostOut, **RATE_LIMITED_ERRORS},
             summary="Post on a wall (mine or a friend's)")
def post_on_wall(
    request: HttpRequest, payload: PostIn, member_id: int = MemberIdPath,
    idempotency_key: str | None = IdempotencyKeyHeader,
) -> tuple[int, PostOut]:
    author = authenticated_member(request)
    post = do_post_on_wall(author=author, wall_owner_id=member_id, text=payload.text,
                           ip_address=client_ip(request), idempotency_key=idempotency_key)
    return 201, post_out(post, viewer_id=author.id)


@router.delete("/posts/{post_id}", response={204: None, **ERRORS},
               summary="Delete a post (its author or the wall's owner)")
def delete_post(request: HttpRequest, post_id: int = MemberIdPath) -> tuple[int, None]:
    do_delete_wall_post(member=authenticated_member(request), post_id=post_id)
    return 204, None
