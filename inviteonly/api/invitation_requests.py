"""/api/invitation-requests: ask for an invitation (no account), follow the request,
and — members who may invite — browse, vouch for and grant requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import get_language
from ninja import Query, Router, Schema
from pydantic import Field

from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.invitations import InvitationOut
from inviteonly.api.schemas import (
    ERRORS,
    RATE_LIMITED_ERRORS,
    LanguageField,
    PhoneField,
    RegionField,
    TokenField,
)
from inviteonly.invitation_requests.actions import (
    do_grant_invitation_request,
    do_request_invitation,
    do_vouch_for_request,
    do_withdraw_invitation_request,
)
from inviteonly.invitation_requests.models import InvitationRequest
from inviteonly.invitation_requests.queries import (
    RequestCursor,
    access_request_by_status_token,
    open_requests_page,
)
from inviteonly.lib import clock
from inviteonly.lib.phone_numbers import country_name
from inviteonly.lib.web import client_ip

router = Router()


class RequestIn(Schema):
    phone: str = PhoneField
    note: str = Field(max_length=settings.INVITATION_REQUEST_NOTE_MAX_LENGTH)
    language: str | None = LanguageField
    region: str | None = RegionField


class StatusIn(Schema):
    status_token: str = TokenField


class RequestStatusOut(Schema):
    state: str
    created_at: datetime
    expires_at: datetime
    granted_at: datetime | None
    # Set when that invitation was revoked (by the member who granted the request, or
    # by their ban): the link in the SMS is dead and the request waits again.
    invitation_withdrawn_at: datetime | None
    # Set when that invitation's SMS failed for good (state ``invitation_undelivered``):
    # the invitation is revoked; check the number, withdraw the request and ask again.
    invitation_undelivered_at: datetime | None

    @staticmethod
    def of(request: InvitationRequest) -> RequestStatusOut:
        return RequestStatusOut(
            state=request.state_at(clock.now()),
            created_at=request.created_at,
            expires_at=request.expires_at,
            granted_at=request.granted_at,
            invitation_withdrawn_at=request.invitation_withdrawn_at,
            invitation_undelivered_at=request.invitation_undelivered_at,
        )


class RequestSubmittedOut(RequestStatusOut):
    # Shown once: the only way to follow the request. Keep it.
    status_token: str


class OpenRequestOut(Schema):
    """What members see of a request: never a number or any other contact."""

    id: int
    note: str
    region: str
    country: str
    language: str
    created_at: datetime
    expires_at: datetime
    vouches: int
    vouched_by_me: bool

    @staticmethod
    def resolve_country(request: InvitationRequest) -> str:
        return country_name(request.region, get_language())

    @staticmethod
    def resolve_vouches(request: InvitationRequest) -> int:
        return int(request.vouch_count)  # type: ignore[attr-defined]


class OpenRequestsIn(Schema):
    """A page of the requests: pass the previous page's ``next_after``."""

    after: str | None = Field(default=None, pattern=RequestCursor.PATTERN)
    limit: int = Field(default=settings.NINJA_PAGINATION_PER_PAGE, ge=1,
                       le=settings.NINJA_PAGINATION_MAX_LIMIT)


class OpenRequestPageOut(Schema):
    """Most vouched for first, then the longest waiting: a request granted, withdrawn
    or put back on the list between two pages neither repeats nor skips another."""

    items: list[OpenRequestOut]
    # Ask for the next page with ?after=<next_after>; null on the last page.
    next_after: str | None


class VouchesOut(Schema):
    vouches: int


@router.post("", response={201: RequestSubmittedOut, **RATE_LIMITED_ERRORS},
             summary="Ask for an invitation (no account needed)")
def create_request(request: HttpRequest, payload: RequestIn) -> tuple[int, RequestSubmittedOut]:
    """No SMS is sent until a member grants the request. Every number gets the same
    answer. Keep ``status_token``: it is shown once."""
    submitted = do_request_invitation(
        phone=payload.phone, note=payload.note, language=payload.language or get_language(),
        region_hint=payload.region, ip_address=client_ip(request),
    )
    status = RequestStatusOut.of(submitted.request)
    return 201, RequestSubmittedOut(**status.dict(), status_token=submitted.status_token)


@router.post("/status", response={200: RequestStatusOut, **ERRORS},
             summary="The state of my request")
def request_status(request: HttpRequest, payload: StatusIn) -> RequestStatusOut:
    """``state``: ``waiting``, ``granted`` (an invitation SMS is on its way to the
    number), ``invitation_expired`` (its link has expired), ``invitation_undelivered``
    (the invitation SMS could not be delivered, and the invitation is revoked: check
    the number, withdraw the request and ask again) or ``expired``."""
    return RequestStatusOut.of(access_request_by_status_token(payload.status_token))


@router.post("/withdraw", response={204: None, **ERRORS}, summary="Withdraw my request")
def withdraw_request(request: HttpRequest, payload: StatusIn) -> tuple[int, None]:
    """Deletes the request at once, its number and note with it, and takes it off the
    members' list; an invitation granted on it that nobody has used yet is revoked.
    The status token no longer works afterwards. The answer is the same whatever the
    number."""
    do_withdraw_invitation_request(token=payload.status_token, ip_address=client_ip(request))
    return 204, None


@router.get("", response={200: OpenRequestPageOut, **ERRORS}, auth=session_bearer,
            summary="Requests waiting for a member (members who may invite)")
def list_requests(request: HttpRequest, page: Query[OpenRequestsIn]) -> dict[str, Any]:
    rows, next_after = open_requests_page(
        authenticated_member(request), after=RequestCursor.parse(page.after), limit=page.limit
    )
    # The rows as they are: the response schema reads them (and resolves the country).
    return {"items": rows, "next_after": None if next_after is None else str(next_after)}


@router.post("/{request_id}/vouch", response={200: VouchesOut, **ERRORS}, auth=session_bearer,
             summary="Vouch for a request")
def vouch(request: HttpRequest, request_id: int) -> VouchesOut:
    count = do_vouch_for_request(member=authenticated_member(request), request_id=request_id)
    return VouchesOut(vouches=count)


@router.post("/{request_id}/grant", response={201: InvitationOut, **RATE_LIMITED_ERRORS},
             auth=session_bearer,
             summary="Invite the person behind a request (uses one of your invitations)")
def grant(request: HttpRequest, request_id: int) -> tuple[int, InvitationOut]:
    """The answer is the same whatever the number (its ``phone_masked`` is null): one
    that has joined since it asked gets no SMS. Revoking the invitation puts the
    request back on the list."""
    invitation = do_grant_invitation_request(
        member=authenticated_member(request), request_id=request_id,
        ip_address=client_ip(request),
    )
    return 201, InvitationOut.of(invitation)
