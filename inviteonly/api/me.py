"""/api/me: the logged-in member and their notifications."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.schemas import ERRORS, MemberOut
from inviteonly.notifications.queries import recent_notifications

router = Router(auth=session_bearer)


class NotificationOut(Schema):
    id: int
    kind: str
    text: str
    created_at: datetime
    unread: bool


@router.get("", response={200: MemberOut, **ERRORS}, summary="Who am I")
def get_me(request: HttpRequest) -> MemberOut:
    return MemberOut.of(authenticated_member(request))


@router.get(
    "/notifications", response={200: list[NotificationOut], **ERRORS}, summary="My notifications"
)
def get_notifications(request: HttpRequest) -> list[NotificationOut]:
    return [
        NotificationOut(**vars(notification))
        for notification in recent_notifications(authenticated_member(request))
    ]
