"""Members with an API session, for the social tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from inviteonly.accounts.models import Member
from inviteonly.lib import clock
from inviteonly.social.models import Friendship
from tests.conftest import ApiClient, make_member, new_ru_number

# Old enough not to be a new member (NEW_MEMBER_PERIOD_DAYS).
SETTLED = timedelta(days=365)


def member_with_api(
    name: str, *, language: str = "en", joined_at: datetime | None = None
) -> tuple[Member, ApiClient]:
    phone = new_ru_number()
    member = make_member(phone=phone, display_name=name,
                         joined_at=joined_at or clock.now() - SETTLED)
    client = ApiClient(language)
    client.log_in(phone)
    return member, client


def befriend(first: Member, second: Member) -> None:
    Friendship.objects.bulk_create([Friendship(member=first, friend=second),
                                    Friendship(member=second, friend=first)])


# What the blocker reads where the blocked member's wall would be.
BLOCKED_WALL = {
    "en": "You block this member: their wall stays hidden from you until you unblock them.",
    "ru": "Вы заблокировали этого участника: его стена скрыта от вас, пока вы его не "
          "разблокируете.",
}
