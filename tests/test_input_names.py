"""Display names: a name shows at least one letter, digit or symbol; emoji joined by
ZWJ are names like any other, while blank letters, lone marks, stray joiners and bidi
controls are not (nor, through the same rule, in notes and reasons)."""

from __future__ import annotations

import pytest
from django.utils import translation

from inviteonly.accounts.validation import clean_display_name, clean_visible_text
from inviteonly.lib.errors import ActionError


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        pytest.param("Ann 👨\u200d👩\u200d👧", "Ann 👨\u200d👩\u200d👧", id="family-emoji"),
        pytest.param("Kim 🏳\ufe0f\u200d🌈", "Kim 🏳\ufe0f\u200d🌈", id="joiner-after-selector"),
        pytest.param("Dev 👩🏽\u200d💻", "Dev 👩🏽\u200d💻", id="skin-tone"),
        pytest.param("\u0645\u06cc\u200c\u0631\u0627", "\u0645\u06cc\u200c\u0631\u0627",
                     id="persian-zwnj"),
        pytest.param("\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937",
                     id="devanagari-zwj-after-virama"),
        pytest.param("Ann\u3164Lee", "Ann Lee", id="hangul-filler-as-space"),
        pytest.param("\u2800Bob\u2800\u2800", "Bob", id="braille-blank-as-space"),
        pytest.param("Zoe\u0301", "Zo\u00e9", id="combining-mark-composed"),
        pytest.param("★", "★", id="symbol"),
        pytest.param("42", "42", id="digits"),
    ],
)
def test_visible_names_are_accepted(raw: str, name: str) -> None:
    assert clean_display_name(raw) == name


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param("\u3164", "display_name_required", id="hangul-filler"),
        pytest.param("\u115f", "display_name_required", id="hangul-choseong-filler"),
        pytest.param("\u1160\uffa0", "display_name_required", id="other-hangul-fillers"),
        pytest.param("\u2800\u2800", "display_name_required", id="braille-blank"),
        pytest.param("\u0301\u0301", "display_name_required", id="combining-marks-alone"),
        pytest.param("\ufe0f", "display_name_required", id="variation-selector-alone"),
        pytest.param("...", "display_name_without_letters", id="punctuation-only"),
        pytest.param("\u200d", "display_name_invalid", id="joiner-alone"),
        pytest.param("\u200dAnn", "display_name_invalid", id="leading-joiner"),
        pytest.param("Ann\u200c", "display_name_invalid", id="trailing-joiner"),
        pytest.param("Ann \u200dLee", "display_name_invalid", id="joiner-after-space"),
        pytest.param("Ann\u200d\u200dLee", "display_name_invalid", id="two-joiners"),
        pytest.param("Ann\u200bLee", "display_name_invalid", id="zero-width-space"),
        pytest.param("Bob\u202eevil", "display_name_invalid", id="right-to-left-override"),
        pytest.param("Bob\u2067evil", "display_name_invalid", id="right-to-left-isolate"),
    ],
)
def test_invisible_names_are_refused(raw: str, code: str) -> None:
    with pytest.raises(ActionError) as refused:
        clean_display_name(raw)
    assert (refused.value.code, refused.value.field) == (code, "display_name")


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "at least one letter, digit or symbol"), ("ru", "хотя бы одна буква")],
)
def test_a_name_of_punctuation_alone_is_refused_in_the_readers_language(
    language: str, words: str
) -> None:
    with translation.override(language):
        with pytest.raises(ActionError) as refused:
            clean_display_name("...")
        assert words in str(refused.value.message)


def test_a_note_with_nothing_visible_is_empty_and_a_stray_joiner_is_refused() -> None:
    assert clean_visible_text("\u3164 \u2800\u0301", field="note") == ""
    with pytest.raises(ActionError) as refused:
        clean_visible_text("thanks 🙏\u200d", field="note")
    assert (refused.value.code, refused.value.field) == ("note_invalid", "note")


@pytest.mark.parametrize("raw", ["Former member", "former  MEMBER", "Бывший участник"])
@pytest.mark.parametrize(("language", "words"), [("en", "who left"), ("ru", "покинувших")])
def test_the_name_the_site_gives_members_who_left_is_refused_in_either_language(
    raw: str, language: str, words: str
) -> None:
    """A live member named "Former member" would pass for one who left the network."""
    with translation.override(language):
        with pytest.raises(ActionError) as refused:
            clean_display_name(raw)
        assert words in str(refused.value.message)
    assert (refused.value.code, refused.value.field) == ("display_name_reserved", "display_name")
