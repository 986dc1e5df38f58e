"""Who may do what to whom: the checks the actions and the queries share."""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.models import Member
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.social.models import Audience, Profile

# A link: a scheme, "www.", or a bare domain under a TLD spammers use ("cheap.ru/x").
LINK = re.compile(
    r"(?i)(?:\b[a-z][a-z0-9+.-]*://|\bwww\.|"
    r"\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|info|biz|ru|su|рф|ua|by|kz|io|me|co|xyz|top|"
    r"site|online|click|link|shop|store|club|app|dev|tk|ml|ga|cf|gq|cc|ly|gl|to|tv)\b)"
)


def count_links(text: str) -> int:
    return len(LINK.findall(text))


def is_new_member(member: Member) -> bool:
    return member.joined_at > clock.now() - timedelta(days=settings.NEW_MEMBER_PERIOD_DAYS)


def check_may_write(member: Member) -> None:
    """Quarantined (and banned) members post and message nothing."""
    if member.status != Member.Status.ACTIVE:
        raise ActionError(
            "quarantined",
            _("Your account is quarantined by the moderators: you cannot post or send "
              "messages for now."),
            status=403,
        )


def access_member(member_id: int) -> Member:
    """Another member by id, as long as they are not banned."""
    member = (
        Member.objects.filter(id=member_id).exclude(status=Member.Status.BANNED)
        .select_related("profile").first()
    )
    if member is None:
        raise member_not_found()
    return member


def member_not_found() -> ActionError:
    return ActionError("member_not_found", _("There is no such member."), status=404)


def profile_of(member: Member) -> Profile:
    """The member's profile, or the defaults (not saved) if they never edited it."""
    try:
        return member.profile
    except Profile.DoesNotExist:
        return Profile(member=member)


def may_see_wall(
    *, viewer: Member, owner: Member, profile: Profile, friends: bool, blocked: bool
) -> bool:
    if viewer.id == owner.id:
        return True
    if blocked:
        return False
    return profile.wall_audience == Audience.EVERYONE or friends


def may_message(*, profile: Profile, friends: bool, blocked: bool) -> bool:
    if blocked:
        return False
    return profile.message_audience == Audience.EVERYONE or friends
