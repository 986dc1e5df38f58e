"""/api/join: look at an invitation, start joining (a code is sent), confirm the code."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import get_language
from ninja import Router, Schema
from pydantic import Field

from inviteonly.accounts.actions import do_confirm_join, do_start_join
from inviteonly.accounts.device_tokens import issue_device_token
from inviteonly.api.auth import start_api_session
from inviteonly.api.schemas import (
    ERRORS,
    RATE_LIMITED_ERRORS,
    CodeField,
    LanguageField,
    MemberOut,
    PasswordField,
    PhoneField,
    RegionField,
    SessionOut,
    TokenField,
    VerificationStartedOut,
)
from inviteonly.invitations.queries import access_invitation_by_token
from inviteonly.lib.web import client_ip

router = Router()


class InvitationLookupIn(Schema):
    token: str = TokenField


class InvitationPreviewOut(Schema):
    site_name: str
    inviter_name: str | None
    note: str
    expires_at: datetime
    bound_to_number: bool


class JoinIn(Schema):
    # The token from the join link; leave it out only when registration is open.
    token: str | None = Field(default=None, max_length=128)
    phone: str = PhoneField
    display_name: str = Field(max_length=settings.DISPLAY_NAME_MAX_LENGTH)
    password: str = PasswordField
    language: str | None = LanguageField
    region: str | None = RegionField


class ConfirmIn(Schema):
    verification_token: str = TokenField
    code: str = CodeField


@router.post(
    "/invitation", response={200: InvitationPreviewOut, **ERRORS}, summary="Who invited me?"
)
def preview_invitation(request: HttpRequest, payload: InvitationLookupIn) -> InvitationPreviewOut:
    invitation = access_invitation_by_token(payload.token)
    return InvitationPreviewOut(
        site_name=settings.SITE_NAME,
        inviter_name=invitation.inviter.display_name if invitation.inviter else None,
        note=invitation.note,
        expires_at=invitation.expires_at,
        bound_to_number=bool(invitation.phone_blind_index),
    )


@router.post(
    "", response={202: VerificationStartedOut, **RATE_LIMITED_ERRORS}, summary="Start joining"
)
def start_join(request: HttpRequest, payload: JoinIn) -> tuple[int, VerificationStartedOut]:
    """Sends a confirmation code to the number; the account is created when it comes back."""
    invitation = access_invitation_by_token(payload.token) if payload.token is not None else None
    started = do_start_join(
        invitation=invitation,
        phone=payload.phone,
        display_name=payload.display_name,
        password=payload.password,
        language=payload.language or get_language(),
        region_hint=payload.region,
        ip_address=client_ip(request),
    )
    return 202, VerificationStartedOut.of(started)


@router.post(
    "/confirm", response={201: SessionOut, **RATE_LIMITED_ERRORS},
    summary="Confirm the code, join",
)
def confirm_join(request: HttpRequest, payload: ConfirmIn) -> tuple[int, SessionOut]:
    """Creates the account and answers with its session token and, as a login does, a
    device token for this client's later logins. Sent again after it created the
    account (a retry whose answer was lost): 409 ``already_joined``, log in with
    ``POST /api/session`` instead."""
    session_tokens: list[str] = []
    member = do_confirm_join(
        verification_token=payload.verification_token,
        code=payload.code,
        ip_address=client_ip(request),
        # In the join's transaction: the member and their session commit together.
        on_joined=lambda member: session_tokens.append(
            start_api_session(request, member, just_joined=True)
        ),
    )
    return 201, SessionOut(
        session_token=session_tokens[0], member=MemberOut.of(member, just_joined=True),
        device_token=issue_device_token(member),
    )
