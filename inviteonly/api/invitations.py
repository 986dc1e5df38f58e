"""POST/GET /api/invitations: invite a mobile number, list my invitations, revoke one."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import HttpRequest
from ninja import Path, Query, Router, Schema
from pydantic import Field

from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.schemas import ERRORS, RATE_LIMITED_ERRORS, PhoneField, RegionField
from inviteonly.api.walls import KeysetIn
from inviteonly.invitations.actions import do_invite_by_phone, do_revoke_invitation
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.queries import invitations_sent_by
from inviteonly.lib.web import client_ip
from inviteonly.social.queries import page_before

router = Router(auth=session_bearer)


class InviteIn(Schema):
    phone: str = PhoneField
    note: str = Field(default="", max_length=settings.INVITATION_NOTE_MAX_LENGTH)
    region: str | None = RegionField


class InvitationOut(Schema):
    id: int
    # None for an invitation sent by granting a request: its number stays hidden.
    phone_masked: str | None
    from_request: bool
    note: str
    state: str
    created_at: datetime
    expires_at: datetime

    @staticmethod
    def resolve_phone_masked(invitation: Invitation) -> str | None:
        return None if invitation.from_request else invitation.phone_masked

    @staticmethod
    def of(invitation: Invitation) -> InvitationOut:
        return InvitationOut.from_orm(invitation)


class InvitationPageOut(Schema):
    """Newest first by id: an invitation sent between two pages goes to the top, and
    pushes none of the next page's onto the one before."""

    items: list[InvitationOut]
    # Ask for the next (older) page with ?before=<next_before>; null on the last page.
    next_before: int | None


@router.post(
    "", response={201: InvitationOut, **RATE_LIMITED_ERRORS}, summary="Invite a mobile number"
)
def create_invitation(request: HttpRequest, payload: InviteIn) -> tuple[int, InvitationOut]:
    """Sends the invitation SMS. A number that already belongs to a member gets the same
    answer, and no SMS; so does one that had its few invitation SMS today, whoever sent
    them (``RATE_LIMITS["invitation_sms"]``)."""
    invitation = do_invite_by_phone(
        inviter=authenticated_member(request),
        phone=payload.phone,
        note=payload.note,
        region_hint=payload.region,
        ip_address=client_ip(request),
    )
    return 201, InvitationOut.of(invitation)


@router.get(
    "", response={200: InvitationPageOut, **ERRORS}, summary="My invitations, newest first"
)
def list_invitations(request: HttpRequest, page: Query[KeysetIn]) -> InvitationPageOut:
    rows, next_before = page_before(
        invitations_sent_by(authenticated_member(request)), page.before, page.limit
    )
    return InvitationPageOut(items=[InvitationOut.of(row) for row in rows],
                             next_before=next_before)


@router.post(
    "/{invitation_id}/revoke",
    response={200: InvitationOut, **ERRORS},
    summary="Revoke an invitation nobody has used yet",
)
def revoke_invitation(
    request: HttpRequest, invitation_id: int = Path(..., ge=1, le=2**63 - 1)
) -> InvitationOut:
    """The join link stops working. The allowance it spent comes back when it would have
    expired, not now; an invitation sent on a request puts the request back on the
    list."""
    invitation = do_revoke_invitation(
        member=authenticated_member(request),
        invitation_id=invitation_id,
        ip_address=client_ip(request),
    )
    return InvitationOut.of(invitation)
