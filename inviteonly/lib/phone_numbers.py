"""The one place where typed phone numbers become E.164.

``normalize_phone_number`` accepts what people type (international or national
format with a region hint) and returns a ``PhoneNumber`` only for numbers that can
receive an SMS code: MOBILE and FIXED_LINE_OR_MOBILE. The latter matters: every
US/Canada number is FIXED_LINE_OR_MOBILE, and refusing it is how the scheme we
model failed American invitees. Everything else is refused with a translated
reason. ``PhoneNumber.masked`` is the only form a number is ever shown in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import phonenumbers
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from phonenumbers import PhoneNumberFormat, PhoneNumberType, geocoder

from inviteonly.lib.errors import ActionError

if TYPE_CHECKING:  # django-stubs-ext comes with mypy, not with the site
    from django_stubs_ext import StrOrPromise

# Longer input is not a phone number; refuse it before parsing.
MAX_INPUT_LENGTH = 40

ACCEPTED_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})

# libphonenumber's region of numbers that belong to no country (satellite phones such as
# +881, international networks such as +882 and +883). The allow and deny lists name
# them by it; a PhoneNumber carries no region for them, and they share one SMS budget.
NON_GEOGRAPHIC = phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY

_REFUSAL_REASONS: dict[int, StrOrPromise] = {
    PhoneNumberType.FIXED_LINE: _(
        "This is a landline number. Codes are sent by SMS, so enter a mobile number."
    ),
    PhoneNumberType.TOLL_FREE: _(
        "This is a toll-free number, which cannot receive SMS. Enter a mobile number."
    ),
    PhoneNumberType.PREMIUM_RATE: _(
        "This is a premium-rate number, which cannot receive SMS. Enter a mobile number."
    ),
    PhoneNumberType.SHARED_COST: _(
        "This is a shared-cost number, which cannot receive SMS. Enter a mobile number."
    ),
    PhoneNumberType.VOIP: _(
        "This is an internet telephony (VoIP) number. Enter a mobile number."
    ),
    PhoneNumberType.PERSONAL_NUMBER: _(
        "This is a personal forwarding number. Enter the mobile number itself."
    ),
    PhoneNumberType.PAGER: _("This is a pager number. Enter a mobile number."),
    PhoneNumberType.UAN: _("This is a company's universal access number. Enter a mobile number."),
    PhoneNumberType.VOICEMAIL: _("This is a voicemail access number. Enter a mobile number."),
}


@dataclass(frozen=True)
class PhoneNumber:
    e164: str
    region: str

    @cached_property
    def masked(self) -> str:
        return mask_phone_number(self.e164)


def _refuse(code: str, message: StrOrPromise) -> ActionError:
    return ActionError(code, message, field="phone")


def normalize_phone_number(
    raw: str, *, region_hint: str | None = None, refuse_regions: bool = True
) -> PhoneNumber:
    """The typed number in E.164, or a refusal that says why. ``refuse_regions``: also
    refuse countries the site does not serve (PHONE_ALLOWED_REGIONS / _DENIED_REGIONS),
    which decide who may be invited, join or get a code; logging in sends no SMS, so
    it looks the number up whatever its country."""
    text = (raw or "").strip()
    if not text:
        raise _refuse("phone_required", _("Enter a mobile phone number."))
    if len(text) > MAX_INPUT_LENGTH:
        raise _refuse("phone_invalid", _("This is too long to be a phone number."))
    region = (region_hint or settings.PHONE_DEFAULT_REGION or "").upper() or None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise _refuse(
            "phone_invalid",
            _("This does not look like a phone number. Enter it with the country code, "
              "for example +7 916 123-45-67 or +1 415 555 2671."),
        ) from error
    if not phonenumbers.is_valid_number(parsed):
        raise _refuse(
            "phone_invalid",
            _("This is not a valid phone number. Check the digits and the country code."),
        )
    number_type = phonenumbers.number_type(parsed)
    if number_type not in ACCEPTED_TYPES:
        raise _refuse(
            "phone_not_mobile",
            _REFUSAL_REASONS.get(
                number_type, _("This number cannot receive SMS. Enter a mobile number.")
            ),
        )
    number_region = phonenumbers.region_code_for_number(parsed) or ""
    allowed = settings.PHONE_ALLOWED_REGIONS
    if refuse_regions and (
        number_region in settings.PHONE_DENIED_REGIONS
        or (allowed and number_region not in allowed)
    ):
        raise _refuse(
            "phone_region_refused",
            _("This site does not accept phone numbers from this country."),
        )
    if number_region == NON_GEOGRAPHIC:
        number_region = ""  # belongs to no country: stored without one
    return PhoneNumber(
        e164=phonenumbers.format_number(parsed, PhoneNumberFormat.E164), region=number_region
    )


def stored_phone_number(e164: str) -> PhoneNumber:
    """A number the site accepted once (a member's, decrypted) as a ``PhoneNumber``,
    without refusing it again: its country may have been refused since, and the
    member's own number is still theirs."""
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164)) or ""
    return PhoneNumber(e164=e164, region="" if region == NON_GEOGRAPHIC else region)


def number_prefix(e164: str) -> str:
    """Country code and the next four digits: "+79161234567" → "+79161". Numbers bought
    in bulk for SMS pumping share it."""
    parsed = phonenumbers.parse(e164)
    return f"+{parsed.country_code}{str(parsed.national_number)[:4]}"


def mask_phone_number(e164: str) -> str:
    """"+79161234567" → "+7 916 ***-**-67": country, operator code and the last two digits,
    as long as that leaves at least half the national number hidden, and four digits
    where it has six or more. Short numbers show less of the operator code ("+372 51**
    **67"), and then fewer of the last digits: a masked number must leave too many
    candidates to try."""
    parsed = phonenumbers.parse(e164)
    shown = phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)
    national = len(phonenumbers.national_significant_number(parsed))
    hidden = max(-(-national // 2), min(4, national - 2))
    tail = min(2, national - hidden)
    head = min(
        max(phonenumbers.length_of_national_destination_code(parsed), 1),
        national - hidden - tail,
    )
    visible_prefix = len(str(parsed.country_code)) + head
    total_digits = sum(char.isdigit() for char in shown)
    masked, seen = [], 0
    for char in shown:
        if char.isdigit():
            seen += 1
            if visible_prefix < seen <= total_digits - tail:
                char = "*"
        masked.append(char)
    return "".join(masked)


def country_name(region: str, language: str) -> str:
    """The name of an ISO region in ``language`` ("RU", "ru" → "Россия"), from
    libphonenumber's geocoding data; the code itself where it has none."""
    if not region:
        with translation.override(language):
            return str(_("No country (satellite or international network)"))
    example = phonenumbers.example_number(region)
    if example is None:
        return region
    return geocoder.country_name_for_number(example, language) or region
