"""Invite rights: GET /api/me/invite-rights (the checklist the invite page shows), and
for moderators GET/POST /api/members/{id}/invite-rights (see, grant, suspend)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.conf import settings
from django.http import HttpRequest
from ninja import Path, Router, Schema
from pydantic import AwareDatetime, Field

from inviteonly.accounts.models import Member
from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.schemas import ERRORS
from inviteonly.invitations.actions import do_grant_invite_rights
from inviteonly.invitations.rights import InviteRights, RuleState, evaluate_invite_rights
from inviteonly.lib.web import client_ip
from inviteonly.moderation.actions import do_suspend_invite_rights
from inviteonly.moderation.queries import access_member_for_moderation

router = Router(auth=session_bearer)

# Ids are 64-bit: larger path values are refused by validation, not by the database.
MemberId = Path(..., ge=1, le=2**63 - 1)


class RuleOut(Schema):
    rule: str = Field(examples=["account_age"])
    title: str
    state: RuleState
    reason: str
    passes_at: datetime | None = Field(
        description="When the rule will pass by itself; null if time does not fix it."
    )
    progress: int | None
    target: int | None


class AllowanceOut(Schema):
    available: int
    maximum: int
    next_earned_at: datetime | None


class InviteRightsOut(Schema):
    can_invite: bool
    unlimited: bool = Field(description="Founders and moderators: no allowance needed.")
    can_invite_at: datetime | None = Field(
        description="When every failed rule will have passed by itself; null if one needs "
        "a moderator, or if the member can invite now."
    )
    days_to_wait: int | None
    allowance: AllowanceOut | None
    rules: list[RuleOut]

    @staticmethod
    def of(rights: InviteRights) -> InviteRightsOut:
        allowance = rights.allowance
        return InviteRightsOut(
            can_invite=rights.can_invite,
            unlimited=rights.unlimited,
            can_invite_at=rights.can_invite_at,
            days_to_wait=rights.days_to_wait,
            allowance=AllowanceOut(**vars(allowance)) if allowance else None,
            rules=[
                RuleOut(
                    rule=rule.rule, title=rule.title, state=rule.state,
                    reason=rule.reason, passes_at=rule.passes_at, progress=rule.progress,
                    target=rule.target,
                )
                for rule in rights.rules
            ],
        )


class InviteRightsDecisionIn(Schema):
    decision: Literal["grant", "suspend"]
    reason: str = Field(max_length=settings.MODERATION_REASON_MAX_LENGTH)
    # With a time zone ("2027-01-31T00:00:00Z"): a bare local time would be a guess.
    ends_at: AwareDatetime | None = None


@router.get(
    "/me/invite-rights", response={200: InviteRightsOut, **ERRORS},
    summary="Whether I can invite, rule by rule",
)
def get_my_invite_rights(request: HttpRequest) -> InviteRightsOut:
    return InviteRightsOut.of(evaluate_invite_rights(authenticated_member(request)))


@router.get(
    "/members/{member_id}/invite-rights", response={200: InviteRightsOut, **ERRORS},
    summary="A member's invite rights (moderators)",
)
def get_member_invite_rights(request: HttpRequest, member_id: int = MemberId) -> InviteRightsOut:
    member = access_member_for_moderation(authenticated_member(request), member_id)
    return InviteRightsOut.of(evaluate_invite_rights(member))


@router.post(
    "/members/{member_id}/invite-rights", response={200: InviteRightsOut, **ERRORS},
    summary="Grant or suspend a member's invite rights (moderators)",
)
def decide_member_invite_rights(
    request: HttpRequest, payload: InviteRightsDecisionIn, member_id: int = MemberId
) -> InviteRightsOut:
    """``grant`` waives the automatic rules; ``suspend`` takes the rights away. Both
    need a reason and may end on ``ends_at``."""
    moderator = authenticated_member(request)
    member: Member = access_member_for_moderation(moderator, member_id)
    decide = do_grant_invite_rights if payload.decision == "grant" else do_suspend_invite_rights
    decide(member=member, moderator=moderator, reason=payload.reason, ends_at=payload.ends_at,
           ip_address=client_ip(request))
    return InviteRightsOut.of(evaluate_invite_rights(member))
