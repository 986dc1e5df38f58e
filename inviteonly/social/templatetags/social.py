"""Template helpers of the social pages."""

from __future__ import annotations

from django import template

from inviteonly.accounts.models import Member
from inviteonly.social.avatars import avatar_url
from inviteonly.social.rules import profile_of

register = template.Library()


@register.filter
def avatar(member: Member) -> str | None:
    """The member's avatar URL (their profile must come with them: select_related)."""
    return avatar_url(profile_of(member))
