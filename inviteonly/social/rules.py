"""Who may do what to whom: the checks the actions and the queries share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.models import Member
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.lib.queries import columns_of, fetch_model
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


# The member and their profile's columns (prefixed "profile_"), if any: the member
# every profile, wall and friend list starts from (see lib/queries.py).
_PROFILE_FIELDS = [field for field in Profile._meta.concrete_fields if not field.primary_key]
_PROFILE_COLUMNS = ("profile_member_id", *(f"profile_{field.attname}" for field in _PROFILE_FIELDS))
_MEMBER_WITH_PROFILE_SQL = (
    f"SELECT {columns_of(Member, 'm')}, p.member_id AS profile_member_id, "  # noqa: S608 (model metadata only)
    + ", ".join(f"p.{field.column} AS profile_{field.attname}" for field in _PROFILE_FIELDS)
    + "{extra} FROM accounts_member m LEFT JOIN social_profile p ON p.member_id = m.id"
    " WHERE m.id = %(member)s AND m.status <> %(banned)s"
)


@dataclass(frozen=True)
class MemberQuery:
    sql: str
    extra_columns: tuple[str, ...]


def member_with_profile_query(**expressions: str) -> MemberQuery:
    """The query ``access_member`` runs, with more columns (name = an SQL expression
    over the member ``m``) read onto the member as attributes."""
    extra = "".join(f", {expression} AS {name}" for name, expression in expressions.items())
    return MemberQuery(sql=_MEMBER_WITH_PROFILE_SQL.replace("{extra}", extra),
                       extra_columns=(*_PROFILE_COLUMNS, *expressions))


_ACCESS_MEMBER = member_with_profile_query()


def access_member(
    member_id: int, *, query: MemberQuery = _ACCESS_MEMBER, params: dict[str, Any] | None = None
) -> Member:
    """Another member by id, as long as they are not banned, with their profile (and
    what else ``query`` reads with ``params``)."""
    member = fetch_model(
        Member, query.sql,
        {**(params or {}), "member": member_id, "banned": Member.Status.BANNED},
        extra=query.extra_columns,
    )
    if member is None:
        raise member_not_found()
    profile = None
    if getattr(member, "profile_member_id", None) is not None:
        profile = Profile(member=member, **{
            field.attname: field.to_python(getattr(member, f"profile_{field.attname}"))
            for field in _PROFILE_FIELDS
        })
        profile._state.adding = False  # a stored row, as if read by the ORM
    # What select_related("profile") would leave: no query when member.profile is read.
    Member.profile.related.set_cached_value(member, profile)
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
