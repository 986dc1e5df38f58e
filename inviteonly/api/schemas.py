"""Shapes shared by several API modules."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from ninja import Header, Schema
from pydantic import Field

from inviteonly.accounts.models import Member
from inviteonly.invitations.rights import can_invite
from inviteonly.lib.phone_numbers import MAX_INPUT_LENGTH
from inviteonly.phone_verification.actions import StartedVerification
from inviteonly.social import idempotency

PhoneField = Field(max_length=MAX_INPUT_LENGTH, examples=["+7 916 123-45-67"])
# A region hint for numbers typed in national format ("8 916 …" with "RU").
RegionField = Field(default=None, min_length=2, max_length=2, examples=["RU"])
# A newcomer's language (their SMS, their account); left out, the request's
# (Accept-Language), as the pages pre-select it. The document lists the languages the
# action takes (accounts.validation.clean_language, which refuses others with 400).
LanguageField = Field(
    default=None, max_length=8, examples=["ru"],
    json_schema_extra={"enum": [*(code for code, _name in settings.LANGUAGES), None]},
)
PasswordField = Field(max_length=settings.PASSWORD_MAX_LENGTH)
CodeField = Field(max_length=16, examples=["123456"])
TokenField = Field(max_length=128)
# A device token (accounts/device_tokens.py): handed out by every login, join and
# recovery, sent back with later logins and password checks so they are throttled per
# token, not by the number.
DeviceTokenField = Field(
    default=None, max_length=128,
    description="The device_token of this client's last login, if it has one: its "
    "failed attempts are then counted per token (with the same waits and lockout), so "
    "failures others type with the number do not lock this client out. A token that is "
    "not valid for the number is treated as none.",
)
# The device token of an answer: a login's, a join's (the code proved the number, as
# the password does) and a recovery's (the code proved it; the next login is likely).
DeviceTokenOutField = Field(
    description="Keep it and send it with later logins with this number "
    "(POST /api/session) and with the password typed again (POST /api/me/password, "
    "/api/me/phone, /api/me/leave): they are then throttled per token, so a "
    "stranger failing with the number does not lock this client out. Each login, join, "
    "recovery and password change answers a new one; valid for LOGIN_DEVICE_TOKEN_LIFETIME "
    "(365 days by default) and only for the number, account and password it was issued "
    "for: a recovery or a password change ends every token issued before it."
)
# The key that makes a retried POST answer the first one's result instead of writing
# again (social.idempotency): declared in the document for the operations that take it.
IdempotencyKeyHeader = Header(
    None, alias=idempotency.HEADER, min_length=1, max_length=idempotency.KEY_MAX_LENGTH,
    pattern=idempotency.KEY_PATTERN,
    description=(
        "Optional: a key of your own, new for each new request (1 to 255 visible ASCII "
        "characters, such as a UUID). Sent again with the same request within "
        f"{int(settings.IDEMPOTENCY_KEY_WINDOW.total_seconds() // 3600)} hours, it is "
        "answered with what the first request created (the same status and body) and "
        "nothing is created again; sent with another request, 422 idempotency_key_reused; "
        "if what it created has since been deleted, 409 idempotency_key_used."
    ),
)


class ErrorOut(Schema):
    code: str
    detail: str
    field: str | None = None


class MemberRef(Schema):
    id: int
    display_name: str


class MemberOut(Schema):
    id: int
    display_name: str
    phone_masked: str
    language: str
    # The zone the member chose to read times in (an IANA name); "" for the site's
    # (GET /api/site). Times in answers are UTC either way; messages use it.
    time_zone: str
    role: str
    status: str
    joined_at: datetime
    invited_by: MemberRef | None
    can_invite: bool

    @staticmethod
    def of(member: Member, *, just_joined: bool = False) -> MemberOut:
        """``just_joined``: the member was created by this request (see
        ``evaluate_invite_rights``)."""
        inviter = member.invited_by
        return MemberOut(
            id=member.id,
            display_name=member.display_name,
            phone_masked=member.phone_masked,
            language=member.language,
            time_zone=member.time_zone,
            role=member.role,
            status=member.status,
            joined_at=member.joined_at,
            invited_by=(
                MemberRef(id=inviter.id, display_name=inviter.display_name) if inviter else None
            ),
            can_invite=can_invite(member, just_joined=just_joined),
        )


class VerificationStartedOut(Schema):
    verification_token: str
    phone_masked: str
    expires_at: datetime

    @staticmethod
    def of(started: StartedVerification) -> VerificationStartedOut:
        return VerificationStartedOut(
            verification_token=started.token,
            phone_masked=started.verification.phone_masked,
            expires_at=started.verification.expires_at,
        )


class SessionOut(Schema):
    """The answer of a login and of a join."""

    session_token: str
    member: MemberOut
    device_token: str = DeviceTokenOutField


class DetailOut(Schema):
    detail: str


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
          410: ErrorOut, 413: ErrorOut, 415: ErrorOut, 422: ErrorOut}
# Operations that count a rate limit (settings.RATE_LIMITS), the login throttle or the
# SMS budget: 429 with Retry-After (declared in the document by api.ShapedErrorsNinjaAPI).
RATE_LIMITED_ERRORS = {**ERRORS, 429: ErrorOut}
