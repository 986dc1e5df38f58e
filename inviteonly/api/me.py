"""/api/me: the logged-in member, their notifications (read and marked read), their
sessions (listed, ended), changing their password, moving them to a new number,
choosing their time zone, leaving the network."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Schema
from pydantic import Field

from inviteonly.accounts.actions import (
    do_change_password,
    do_confirm_phone_change,
    do_end_other_sessions,
    do_end_session,
    do_leave_network,
    do_set_time_zone,
    do_start_phone_change,
)
from inviteonly.accounts.device_tokens import issue_device_token
from inviteonly.accounts.queries import other_sessions_ended_text, sessions_of
from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.messages import ReadOut
from inviteonly.api.schemas import (
    ERRORS,
    RATE_LIMITED_ERRORS,
    CodeField,
    DetailOut,
    DeviceTokenField,
    DeviceTokenOutField,
    MemberOut,
    PasswordField,
    PhoneField,
    RegionField,
    TokenField,
    VerificationStartedOut,
)
from inviteonly.api.walls import KeysetIn
from inviteonly.lib.converters import MAX_ROW_ID
from inviteonly.lib.web import client_ip
from inviteonly.notifications.actions import do_mark_notifications_read, do_show_notifications

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


class NotificationsOut(Schema):
    items: list[NotificationOut]
    # Ask for the next (older) page with ?before=<next_before>; null on the last page.
    next_before: int | None


@router.get(
    "/notifications", response={200: NotificationsOut, **ERRORS},
    summary="My notifications, newest first",
)
def get_notifications(request: HttpRequest, page: Query[KeysetIn]) -> NotificationsOut:
    """Newest first by id, the order ``POST /api/me/notifications/read?up_to=`` marks
    in. Only a notification listed here (or on the home page) can be marked read."""
    rows, next_before = do_show_notifications(
        member=authenticated_member(request), before_id=page.before, limit=page.limit,
    )
    return NotificationsOut(
        items=[NotificationOut(id=row.id, kind=row.kind, text=row.text,
                               created_at=row.created_at, unread=row.unread)
               for row in rows],
        next_before=next_before,
    )


class MemberSessionOut(Schema):
    """One of the member's sessions; its token is never shown."""

    id: str
    current: bool  # the session this request was made with
    kind: str  # "web", "api", or "" for one stored before kinds were recorded
    client: str  # e.g. "Chrome on Android", in the member's language; "" when unknown
    network: str  # the login address's network, masked ("203.0.113.0/24"); "" if unknown
    created_at: datetime | None
    # Updated at most once every SESSION_LAST_SEEN_INTERVAL (settings.py).
    last_seen_at: datetime | None


class SessionsEndedOut(Schema):
    detail: str
    ended: int


# A session's id as listed (accounts.sessions.session_public_id).
SessionIdPath = Path(..., pattern=r"^[0-9a-f]{16}$", examples=["3f2a9c0d41b7e865"])


@router.get(
    "/sessions", response={200: list[MemberSessionOut], **ERRORS},
    summary="Where I am logged in",
)
def get_sessions(request: HttpRequest) -> list[MemberSessionOut]:
    """Every live session of the member, pages and API, this one first."""
    return [
        MemberSessionOut(
            id=shown.id, current=shown.current, kind=shown.kind, client=shown.client,
            network=shown.network, created_at=shown.created_at,
            last_seen_at=shown.last_seen_at,
        )
        for shown in sessions_of(authenticated_member(request), session=request.api_session)  # type: ignore[attr-defined]
    ]


@router.post(
    "/sessions/end-others", response={200: SessionsEndedOut, **ERRORS},
    summary="Log out everywhere else",
)
def end_other_sessions(request: HttpRequest) -> SessionsEndedOut:
    """Every other session of the member ends, pages and API tokens alike; this one
    goes on with its token."""
    ended = do_end_other_sessions(
        member=authenticated_member(request), session=request.api_session,  # type: ignore[attr-defined]
        ip_address=client_ip(request),
    )
    return SessionsEndedOut(
        detail=other_sessions_ended_text(ended),
        ended=ended,
    )


@router.delete(
    "/sessions/{session_id}", response={204: None, **ERRORS}, summary="End one session",
)
def end_session(request: HttpRequest, session_id: str = SessionIdPath) -> tuple[int, None]:
    """404 for an id that is not one of the member's sessions (another member's too);
    409 for this session's own id (log out with DELETE /api/session instead)."""
    do_end_session(
        member=authenticated_member(request), session=request.api_session,  # type: ignore[attr-defined]
        session_id=session_id, ip_address=client_ip(request),
    )
    return 204, None


class PasswordChangeIn(Schema):
    current_password: str = PasswordField
    new_password: str = PasswordField
    device_token: str | None = DeviceTokenField


class PasswordChangedOut(Schema):
    detail: str
    # This session's new token: the one sent with the request no longer works.
    session_token: str
    # The new password ended every device token: this client's new one.
    device_token: str = DeviceTokenOutField


@router.post(
    "/password", response={200: PasswordChangedOut, **RATE_LIMITED_ERRORS},
    summary="Change my password",
)
def change_password(request: HttpRequest, payload: PasswordChangeIn) -> PasswordChangedOut:
    """Every other session of the member ends; this one goes on under the new
    ``session_token``. A wrong current password counts as a failed login."""
    session = request.api_session  # type: ignore[attr-defined]
    member = authenticated_member(request)
    do_change_password(
        member=member,
        session=session,
        current_password=payload.current_password,
        new_password=payload.new_password,
        ip_address=client_ip(request),
        device_token=payload.device_token,
    )
    return PasswordChangedOut(
        detail=_("Your password has been changed. Your other sessions have ended."),
        session_token=session.session_key,
        device_token=issue_device_token(member),
    )


class PhoneChangeIn(Schema):
    password: str = PasswordField
    phone: str = PhoneField
    # Left out: the region of the member's current number.
    region: str | None = RegionField
    device_token: str | None = DeviceTokenField


class PhoneChangeConfirmIn(Schema):
    verification_token: str = TokenField
    code: str = CodeField


@router.post(
    "/phone", response={202: VerificationStartedOut, **RATE_LIMITED_ERRORS},
    summary="Move to a new number",
)
def start_phone_change(
    request: HttpRequest, payload: PhoneChangeIn
) -> tuple[int, VerificationStartedOut]:
    """Your password and the new number: a code goes to it by SMS. The answer is the same
    whether or not the number belongs to another member."""
    started = do_start_phone_change(
        member=authenticated_member(request),
        password=payload.password,
        phone=payload.phone,
        region_hint=payload.region,
        ip_address=client_ip(request),
        device_token=payload.device_token,
    )
    return 202, VerificationStartedOut.of(started)


@router.post(
    "/phone/confirm", response={200: MemberOut, **RATE_LIMITED_ERRORS},
    summary="Confirm the new number",
)
def confirm_phone_change(request: HttpRequest, payload: PhoneChangeConfirmIn) -> MemberOut:
    """The code from the SMS to the new number. Every other session of yours ends (this
    token stays valid), and the old number gets an SMS saying the account moved."""
    member = do_confirm_phone_change(
        member=authenticated_member(request),
        verification_token=payload.verification_token,
        code=payload.code,
        keep_session_key=request.api_session.session_key,  # type: ignore[attr-defined]
        ip_address=client_ip(request),
    )
    return MemberOut.of(member)


class LeaveIn(Schema):
    password: str = PasswordField
    # Must be true: leaving cannot be undone.
    confirm: bool = False
    device_token: str | None = DeviceTokenField


@router.post(
    "/leave", response={200: DetailOut, **RATE_LIMITED_ERRORS},
    summary="Leave the network",
)
def leave_network(request: HttpRequest, payload: LeaveIn) -> DetailOut:
    """Your password, and ``confirm: true``. Cannot be undone: your name, number,
    profile, friends, wall and notifications are erased and every session ends (this
    token too); your messages stay in your correspondents' conversations, shown as from
    "Former member", and your invitees keep you as their inviter. A wrong password
    counts as a failed login (403, ``password_wrong``). Your number cannot join again
    for ``LEFT_NUMBER_HOLD_DAYS``."""
    do_leave_network(
        member=authenticated_member(request),
        password=payload.password,
        confirmed=payload.confirm,
        ip_address=client_ip(request),
        device_token=payload.device_token,
    )
    return DetailOut(detail=_("You have left the network. Goodbye."))


class TimeZoneIn(Schema):
    # An IANA name from the system's time zone data ("Europe/Moscow"); "" for the
    # site's (GET /api/site's time_zone).
    time_zone: str = Field(max_length=64, examples=["Europe/Moscow"])


@router.put(
    "/time-zone", response={200: MemberOut, **ERRORS}, summary="Choose my time zone",
)
def set_time_zone(request: HttpRequest, payload: TimeZoneIn) -> MemberOut:
    """The zone the texts of pages, notifications and this API's messages show times in
    ("valid until …"). Times themselves stay ISO 8601 in UTC. 400 ``time_zone_unknown``
    for a name the server's time zone data does not list."""
    member = authenticated_member(request)
    do_set_time_zone(member=member, time_zone=payload.time_zone)
    return MemberOut.of(member)


class ReadUpToIn(Schema):
    # The id of the newest notification the member was shown: newer ones, which they
    # have not seen, stay unread. Left out: all are marked read. Either way, only those
    # GET /api/me/notifications (or the home page) listed: one it has not listed yet
    # stays unread, even with a lower id.
    up_to: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)


@router.post(
    "/notifications/read", response={200: ReadOut, **ERRORS},
    summary="Mark my notifications read",
)
def mark_notifications_read(request: HttpRequest, shown: Query[ReadUpToIn]) -> ReadOut:
    return ReadOut(marked_read=do_mark_notifications_read(
        member=authenticated_member(request), up_to=shown.up_to,
    ))
