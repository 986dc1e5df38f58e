"""Who may do what to whom: the checks the actions and the queries share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.models import Member
from inviteonly.accounts.validation import text_as_seen
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.lib.queries import columns_of, fetch_model
from inviteonly.moderation.models import Sanction, SanctionKind
from inviteonly.social.models import Audience, Profile

# Top-level domains spammers use: a bare "cheap-pills.ru" counts as a link without a
# scheme or "www.".
LINK_DOMAINS = frozenset({
    "com", "net", "org", "info", "biz", "ru", "su", "рф", "ua", "by", "kz", "io", "me", "co",
    "xyz", "top", "site", "online", "click", "link", "shop", "store", "club", "app", "dev",
    "tk", "ml", "ga", "cf", "gq", "cc", "ly", "gl", "to", "tv",
})
# A word (no address holds a space) cut into "://", dotted names ("www.cheap-pills.ru",
# "https") and single other characters. No part can backtrack, so one pass costs time
# linear in the text, whatever its shape ("a.a.a.…" made the previous pattern
# quadratic).
_LINK_TOKENS = re.compile(r"(?P<scheme>://)|(?P<name>[\w-]+(?:\.[\w-]+)*)|.")
# After an address's name, these carry on the same address (a port, a path, a query,
# a fragment; "user@" before a name): the rest of the word is no other link.
_ADDRESS_GOES_ON = frozenset("/?#:@")


def _is_web_name(name: str) -> bool:
    """"www.…", or a name with a label of ``LINK_DOMAINS`` past its first (under a
    country's second level too: "cheap-pills.co.uk", ".com.au"), or ending in an
    internationalised top-level domain in its ASCII form ("xn--p1ai" is "рф")."""
    labels = name.lower().split(".")
    return len(labels) > 1 and (
        labels[0] == "www"
        or any(label in LINK_DOMAINS for label in labels[1:])
        or labels[-1].startswith("xn--")
    )


def count_links(text: str) -> int:
    """The web addresses in ``text``: each one a scheme ("https://", "ftp://"), a name
    starting with "www." or a name under ``LINK_DOMAINS`` ("cheap-pills.ru"), counted
    once with its name, port, path and query ("https://www.spam.com/x?to=b.com" is one
    link; "a.ru, b.ru" two). Read as a reader sees the text (``text_as_seen``): an
    invisible character or full-width letters hide no address."""
    return sum(_links_in_word(word) for word in text_as_seen(text).split()
               if "." in word or "://" in word)


def _links_in_word(word: str) -> int:
    links = 0
    # Where we are: outside an address, right after its "://" (the next name is its
    # host), on its name, or in the rest of it (up to the end of the word).
    state = "outside"
    for token in _LINK_TOKENS.finditer(word):
        kind = token.lastgroup
        if state == "rest":
            break
        if kind == "scheme":
            if state == "name":  # "spam.ru://…" is still the one address
                state = "rest"
            else:
                links += 1
                state = "host"
        elif kind == "name":
            if state == "host":
                state = "name"
            elif _is_web_name(token.group()):
                links += 1
                state = "name"
            else:
                state = "outside"
        elif state == "name" and token.group() in _ADDRESS_GOES_ON:
            state = "rest"
        else:
            state = "outside"
    return links


def is_new_member(member: Member) -> bool:
    return member.joined_at > clock.now() - timedelta(days=settings.NEW_MEMBER_PERIOD_DAYS)


QUARANTINED_TEXT = _(
    "Your account is quarantined by the moderators: for now you cannot post, send "
    "messages, change your profile or ask anyone to be friends."
)


def may_write(member: Member) -> bool:
    """Quarantined (and banned) members put nothing before others: no post, message,
    about text, avatar or friend request (each of which notifies its recipient). What
    only closes their account (privacy settings, clearing the about text, removing the
    avatar, declining, blocking) stays open to them."""
    return member.status == Member.Status.ACTIVE


def check_may_write(member: Member) -> None:
    """Refuse what ``may_write`` does not allow."""
    if not may_write(member):
        raise ActionError("quarantined", QUARANTINED_TEXT, status=403)


@dataclass(frozen=True)
class Quarantine:
    """Why a member may not write, which pages say instead of offering a form that
    sending would refuse: the refusal's text, and when the quarantine ends if every
    quarantine in force has an end (None: until a moderator ends it)."""

    text: Any
    ends_at: datetime | None


def quarantine_of(member: Member) -> Quarantine | None:
    """None if ``member`` may write (no query); else what pages tell them."""
    if may_write(member):
        return None
    ends = list(
        Sanction.objects.in_force_at(clock.now())
        .filter(member_id=member.id, kind=SanctionKind.QUARANTINE)
        .values_list("ends_at", flat=True)
    )
    known = [end for end in ends if end is not None]
    return Quarantine(
        text=QUARANTINED_TEXT,
        ends_at=max(known) if known and len(known) == len(ends) else None,
    )


def check_not_left(other: Member) -> None:
    """A member who left the network (accounts.actions.do_leave_network) is written to
    no more, nor asked to be friends: their messages stay in their correspondents'
    conversations, read-only."""
    if other.status == Member.Status.LEFT:
        raise member_left()


def member_left() -> ActionError:
    return ActionError("member_left", _("This member has left the network."), status=410)


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
