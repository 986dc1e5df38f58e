"""/api/me: the logged-in member, their notifications, changing their password."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from inviteonly.accounts.actions import do_change_password
from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.schemas import ERRORS, MemberOut, PasswordField
from inviteonly.lib.web import client_ip
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


class PasswordChangeIn(Schema):
    current_password: str = PasswordField
    new_password: str = PasswordField


class PasswordChangedOut(Schema):
    detail: str
    # This session's new token: the one sent with the request no longer works.
    session_token: str


@router.post(
    "/password", response={200: PasswordChangedOut, **ERRORS}, summary="Change my password"
)
def change_password(request: HttpRequest, payload: PasswordChangeIn) -> PasswordChangedOut:
    """Every other session of the member ends; this one goes on under the new
    ``session_token``. A wrong current password counts as a failed login."""
    session = request.api_session  # type: ignore[attr-defined]
    do_change_password(
        member=authenticated_member(request),
        session=session,
        current_password=payload.current_password,
        new_password=payload.new_password,
        ip_address=client_ip(request),
    )
    return PasswordChangedOut(
        detail=_("Your password has been changed. Your other sessions have ended."),
        session_token=session.session_key,
    )
