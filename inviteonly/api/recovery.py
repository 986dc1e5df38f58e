"""/api/recovery: a code to the account's number, then a new password."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from inviteonly.accounts.actions import do_confirm_recovery, do_start_recovery
from inviteonly.accounts.device_tokens import issue_device_token
from inviteonly.api.schemas import (
    RATE_LIMITED_ERRORS,
    CodeField,
    DetailOut,
    DeviceTokenOutField,
    PasswordField,
    PhoneField,
    RegionField,
    TokenField,
    VerificationStartedOut,
)
from inviteonly.lib.web import client_ip

router = Router()


class RecoveryIn(Schema):
    phone: str = PhoneField
    region: str | None = RegionField


class RecoveryConfirmIn(Schema):
    verification_token: str = TokenField
    code: str = CodeField
    new_password: str = PasswordField


class RecoveredOut(DetailOut):
    device_token: str = DeviceTokenOutField


@router.post(
    "", response={202: VerificationStartedOut, **RATE_LIMITED_ERRORS}, summary="Start recovery"
)
def start_recovery(request: HttpRequest, payload: RecoveryIn) -> tuple[int, VerificationStartedOut]:
    """The answer is the same whether or not the number has an account."""
    started = do_start_recovery(
        phone=payload.phone, region_hint=payload.region, ip_address=client_ip(request)
    )
    return 202, VerificationStartedOut.of(started)


@router.post(
    "/confirm", response={200: RecoveredOut, **RATE_LIMITED_ERRORS},
    summary="Set a new password",
)
def confirm_recovery(request: HttpRequest, payload: RecoveryConfirmIn) -> RecoveredOut:
    """Every session of the member ends; log in again with the new password, sending the
    answer's device token (the code proved the number: a stranger failing with it
    meanwhile does not lock this client out). Sent again after the password changed (a
    retry whose answer was lost): 409 ``password_already_changed``, and no token."""
    member = do_confirm_recovery(
        verification_token=payload.verification_token,
        code=payload.code,
        new_password=payload.new_password,
        ip_address=client_ip(request),
    )
    return RecoveredOut(
        detail=_("Your password has been changed. Log in with the new password."),
        device_token=issue_device_token(member),
    )
