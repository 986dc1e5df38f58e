"""Who may invite now. (The full published rule set arrives with issue 4; today:
founders and moderators always, members once their account is old enough.)"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import formats
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from inviteonly.accounts.models import Member
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError


def check_can_invite(member: Member) -> None:
    if member.status != Member.Status.ACTIVE:
        raise ActionError(
            "invite_not_allowed",
            _("Your account is restricted, so you cannot invite right now."),
            status=403,
        )
    if member.invites_without_limit:
        return
    eligible_at = member.joined_at + timedelta(days=settings.INVITE_MIN_ACCOUNT_AGE_DAYS)
    if clock.now() < eligible_at:
        raise ActionError(
            "invite_not_allowed",
            ngettext(
                "Members can invite once their account is %(days)d day old. "
                "You can invite from %(date)s.",
                "Members can invite once their account is %(days)d days old. "
                "You can invite from %(date)s.",
                settings.INVITE_MIN_ACCOUNT_AGE_DAYS,
            )
            % {
                "days": settings.INVITE_MIN_ACCOUNT_AGE_DAYS,
                "date": formats.date_format(eligible_at, "DATE_FORMAT"),
            },
            status=403,
        )


def can_invite(member: Member) -> bool:
    try:
        check_can_invite(member)
    except ActionError:
        return False
    return True
