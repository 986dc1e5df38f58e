"""The texts of the SMS we send, in the recipient's language, one segment where possible."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from inviteonly.lib.phone_numbers import PhoneNumber
from inviteonly.lib.sms_text import fits_one_segment

# Inviter names are shortened to this before the SMS gives up naming them.
SHORTEST_USEFUL_NAME = 8


def language_for_number(phone: PhoneNumber) -> str:
    return settings.SMS_LANGUAGE_BY_REGION.get(phone.region, "en")


def _shortened(name: str) -> list[str]:
    """The name whole, then cut one character at a time down to a useful length."""
    lengths = range(len(name) - 1, SHORTEST_USEFUL_NAME - 1, -1)
    return [name, *(name[:length].rstrip() + "..." for length in lengths)]


def invitation_text(*, inviter_name: str, link: str, language: str) -> str:
    """"{inviter} invites you to {site}: {link}", shortening the inviter's name (and at
    last leaving it out) until the text fits one SMS segment."""
    site = settings.SITE_NAME
    with translation.override(language):
        for name in _shortened(inviter_name.strip()):
            text = _("%(inviter)s invites you to %(site)s: %(link)s") % {
                "inviter": name, "site": site, "link": link,
            }
            if fits_one_segment(text):
                return text
        return _("You are invited to %(site)s: %(link)s") % {"site": site, "link": link}


def join_code_text(*, code: str, language: str) -> str:
    with translation.override(language):
        return _("%(code)s is your %(site)s sign-up code. Don't share it with anyone.") % {
            "code": code, "site": settings.SITE_NAME,
        }


def recovery_code_text(*, code: str, language: str) -> str:
    with translation.override(language):
        return _("%(code)s is your %(site)s recovery code. Don't share it with anyone.") % {
            "code": code, "site": settings.SITE_NAME,
        }
