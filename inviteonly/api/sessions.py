"""/api/session: log in (get a bearer token) and log out."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from inviteonly.accounts.actions import authenticate_member
from inviteonly.api.auth import end_api_session, session_bearer, start_api_session
from inviteonly.api.schemas import (
    ERRORS,
    RATE_LIMITED_ERRORS,
    DeviceTokenField,
    MemberOut,
    PasswordField,
    PhoneField,
    RegionField,
    SessionOut,
)
from inviteonly.lib.web import client_ip

router = Router()


class LoginIn(Schema):
    phone: str = PhoneField
    password: str = PasswordField
    region: str | None = RegionField
    device_token: str | None = DeviceTokenField


@router.post("", response={201: SessionOut, **RATE_LIMITED_ERRORS}, summary="Log in")
def log_in(request: HttpRequest, payload: LoginIn) -> tuple[int, SessionOut]:
    """A session token, and a new device token for this client's later logins."""
    authenticated = authenticate_member(
        phone=payload.phone,
        password=payload.password,
        region_hint=payload.region,
        ip_address=client_ip(request),
        device_token=payload.device_token,
    )
    member = authenticated.member
    return 201, SessionOut(
        session_token=start_api_session(request, member), member=MemberOut.of(member),
        device_token=authenticated.device_token,
    )


@router.delete("", auth=session_bearer, response={204: None, **ERRORS}, summary="Log out")
def log_out(request: HttpRequest) -> tuple[int, None]:
    end_api_session(request)
    return 204, None
