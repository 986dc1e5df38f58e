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


def _safe_in_sms(name: str) -> bool:
    """Only plain names go into an SMS: letters, spaces, hyphens, apostrophes. A "name"
    with digits, dots or slashes could smuggle a phone number or a link into a text
    that leaves under the site's sender id."""
    return all(char.isalpha() or char in " -'" for char in name)


def invitation_text(*, inviter_name: str, link: str, language: str) -> str:
    """"{inviter} invites you to {site}: {link}", shortening the inviter's name (and at
    last leaving it out) until the text fits one SMS segment."""
    site = settings.SITE_NAME
    full_name = inviter_name.strip()
    with translation.override(language):
        for name in _shortened(full_name) if _safe_in_sms(full_name) else []:
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


def phone_change_code_text(*, code: str, language: str) -> str:
    with translation.override(language):
        return _("%(code)s is your %(site)s code to move your account to this number. Don't "
                 "share it with anyone.") % {"code": code, "site": settings.SITE_NAME}


def phone_moved_text(*, new_number_masked: str, language: str) -> str:
    """To the number an account moved away from. The new number only masked: whoever
    holds the old SIM now (a recycled number) learns nothing they could use."""
    with translation.override(language):
        return _("Your %(site)s account was moved to the number %(number)s. If you did not "
                 "do this, contact the site's moderators.") % {
            "site": settings.SITE_NAME, "number": new_number_masked,
        }
