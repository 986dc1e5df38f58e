"""Reading sanctions, and who may moderate whom."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from inviteonly.accounts.models import Member
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.models import Sanction, SanctionKind, Strike

# A moderator acts on members; only a founder acts on a moderator; nobody here acts on
# a founder (operators use the admin).
_RANK = {Member.Role.MEMBER: 0, Member.Role.MODERATOR: 1, Member.Role.FOUNDER: 2}


def is_moderator(member: Member) -> bool:
    return member.role in (Member.Role.MODERATOR, Member.Role.FOUNDER) and (
        member.status == Member.Status.ACTIVE
    )


def check_is_moderator(actor: Member) -> None:
    if not is_moderator(actor):
        raise ActionError(
            "not_a_moderator", _("Only moderators and founders can do this."), status=403
        )


def check_can_moderate(actor: Member, member: Member) -> None:
    check_is_moderator(actor)
    if actor.id == member.id or _RANK[Member.Role(actor.role)] <= _RANK[Member.Role(member.role)]:
        raise ActionError(
            "cannot_moderate",
            _("You cannot act on this member: moderators act on members, founders on "
              "moderators."),
            status=403,
        )


def access_member_for_moderation(actor: Member, member_id: int) -> Member:
    check_is_moderator(actor)
    member = Member.objects.filter(id=member_id).first()
    if member is None:
        raise ActionError("member_unknown", _("There is no such member."), status=404)
    return member


def sanctions_of(member: Member) -> QuerySet[Sanction]:
    # Relies on the index sanction_member_recent.
    return (
        Sanction.objects.filter(member=member)
        .select_related("moderator", "ended_by")
        .order_by("-created_at", "-id")
    )


def strikes_of(member: Member) -> QuerySet[Strike]:
    return Strike.objects.filter(member=member).select_related("invitee").order_by("-created_at")


def open_quarantines(*, now: datetime) -> QuerySet[Sanction]:
    """Quarantines waiting for a moderator's review, oldest first."""
    return (
        Sanction.objects.in_force_at(now)
        .filter(kind=SanctionKind.QUARANTINE)
        .select_related("member", "moderator")
        .order_by("created_at", "id")
    )
