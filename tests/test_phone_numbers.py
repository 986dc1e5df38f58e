"""Normalising typed numbers to E.164, refusing what cannot receive an SMS, masking."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from django.test import override_settings
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from inviteonly.lib.errors import ActionError
from inviteonly.lib.phone_numbers import (
    PhoneNumber,
    country_name,
    mask_phone_number,
    normalize_phone_number,
)


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("8 (916) 123-45-67", "RU", "+79161234567"),
        ("+7 916 123 45 67", None, "+79161234567"),
        ("+1 415 555 2671", None, "+14155552671"),  # FIXED_LINE_OR_MOBILE: every US number
        ("(415) 555-2671", "US", "+14155552671"),
        ("+44 7400 123456", None, "+447400123456"),
        ("+49 1512 3456789", None, "+4915123456789"),
        ("８ ９１６ １２３ ４５ ６７", "RU", "+79161234567"),  # full-width digits
    ],
)
def test_accepts_mobile_numbers_in_any_format(typed: str, region: str | None, e164: str) -> None:
    assert normalize_phone_number(typed, region_hint=region).e164 == e164


# Numbers refused for what a call to them costs, with the reason in English and
# Russian (also sent through the API: test_api_errors).
PREMIUM_RATE_AND_TOLL_FREE = [
    ("+7 809 123-45-67", "premium-rate", "Это платный"),
    ("+1 900 234 5678", "premium-rate", "Это платный"),
    ("+7 800 123-45-67", "toll-free", "Это бесплатный"),
    ("+1 800 234 5678", "toll-free", "Это бесплатный"),
]


@pytest.mark.parametrize(
    ("typed", "code", "reason"),
    [
        *[(typed, "phone_not_mobile", reason) for typed, reason, _ in PREMIUM_RATE_AND_TOLL_FREE],
        ("+7 301 123-45-67", "phone_not_mobile", "landline"),
        ("+44 7640 123456", "phone_not_mobile", "pager"),
        ("+7 916 123", "phone_invalid", "not a valid phone number"),
        ("hello", "phone_invalid", "does not look like a phone number"),
        ("", "phone_required", "Enter a mobile phone number"),
        ("+7" + "1" * 60, "phone_invalid", "too long"),
    ],
)
def test_refuses_with_the_reason(typed: str, code: str, reason: str) -> None:
    with pytest.raises(ActionError) as refused:
        normalize_phone_number(typed, region_hint="RU")
    assert refused.value.code == code
    assert refused.value.field == "phone"
    assert reason in str(refused.value.message)


def test_refusal_reason_is_translated() -> None:
    with translation.override("ru"):
        with pytest.raises(ActionError) as refused:
            normalize_phone_number("+7 809 123-45-67")
        assert re.search("[а-яё]", str(refused.value.message)), refused.value.message


@override_settings(PHONE_DENIED_REGIONS=["GB"])
def test_denied_region_is_refused() -> None:
    with pytest.raises(ActionError) as refused:
        normalize_phone_number("+44 7400 123456")
    assert refused.value.code == "phone_region_refused"
    assert normalize_phone_number("+79161234567").region == "RU"


@override_settings(PHONE_ALLOWED_REGIONS=["RU", "BY"])
def test_allow_list_admits_only_listed_regions() -> None:
    assert normalize_phone_number("+375 29 123 45 67").region == "BY"
    with pytest.raises(ActionError):
        normalize_phone_number("+1 415 555 2671")
    with pytest.raises(ActionError):
        normalize_phone_number(SATELLITE)


SATELLITE = "+881612345678"  # a mobile number of no country


def test_a_number_of_no_country_has_no_region_and_can_be_denied() -> None:
    assert normalize_phone_number(SATELLITE) == PhoneNumber(e164=SATELLITE, region="")
    with override_settings(PHONE_DENIED_REGIONS=["001"]), pytest.raises(ActionError) as refused:
        normalize_phone_number(SATELLITE)
    assert refused.value.code == "phone_region_refused"
    with override_settings(PHONE_ALLOWED_REGIONS=["RU", "001"]):
        assert normalize_phone_number(SATELLITE).region == ""
    assert country_name("", "en") == "No country (satellite or international network)"
    assert country_name("", "ru") == "Без страны (спутниковая или международная сеть)"


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+79161234567", "+7 916 ***-**-67"),
        ("+14155552671", "+1 415-***-**71"),
        # Short numbers: less of the operator code, then fewer of the last digits.
        ("+447400123456", "+44 740* ****56"),
        ("+37251234567", "+372 51** **67"),
        ("+376312345", "+376 *** *45"),
    ],
)
def test_masking_keeps_country_operator_and_last_two_digits(e164: str, masked: str) -> None:
    assert mask_phone_number(e164) == masked


def test_masking_hides_half_the_national_number_and_four_digits_in_any_country() -> None:
    too_plain = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
        if example is None:
            continue
        digits = len(phonenumbers.national_significant_number(example))
        masked = mask_phone_number(phonenumbers.format_number(example, PhoneNumberFormat.E164))
        hidden = masked.count("*")
        if hidden < digits / 2 or (digits >= 6 and hidden < 4):
            too_plain.append(masked)
    assert too_plain == []


MOBILE_REGIONS = ["RU", "US", "CA", "GB", "DE", "FR", "IN", "BR", "KZ", "UA", "JP", "NG"]


@settings(max_examples=200, deadline=None)
@given(region=st.sampled_from(MOBILE_REGIONS), tail=st.integers(min_value=0, max_value=99))
def test_any_mobile_number_round_trips_from_national_and_international_format(
    region: str, tail: int
) -> None:
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    assert example is not None
    digits = str(example.national_number)
    candidate = phonenumbers.parse(f"+{example.country_code}{digits[:-2]}{tail:02d}")
    if phonenumbers.number_type(candidate) not in (
        PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE
    ):
        return
    e164 = phonenumbers.format_number(candidate, PhoneNumberFormat.E164)
    national = phonenumbers.format_number(candidate, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(candidate, PhoneNumberFormat.INTERNATIONAL)
    assert normalize_phone_number(international).e164 == e164
    assert normalize_phone_number(national, region_hint=region).e164 == e164
    masked = mask_phone_number(e164)
    assert masked.endswith(e164[-1]) and "*" in masked
