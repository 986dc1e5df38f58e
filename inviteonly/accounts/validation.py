"""Checks on what people type: display name, language, password, and the one rule on
visible text that names, notes, reasons, posts, messages and "about" texts follow."""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from inviteonly.lib.errors import ActionError
from inviteonly.lib.time_zones import is_time_zone_name

# Letters that draw nothing (U+3164 HANGUL FILLER and its kin, U+2800 BRAILLE PATTERN
# BLANK): fonts show blank space, so they count as whitespace.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_BLANK_AS_SPACE = str.maketrans(dict.fromkeys(BLANK_LETTERS, " "))
# Embeddings, overrides and isolates reorder the text around them: a name, a note or a
# post could read as something other than what was typed ("\u202egnp.exe").
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Zero-width (non-)joiners join what is around them: emoji into one ("👨\u200d👩\u200d👧"),
# letters of Persian or Indic words. Between visible characters they are part of the text.
JOINERS = frozenset("\u200c\u200d")
# Newlines (CRLF from a form's textarea) and tabs, the only control characters a text
# of several lines keeps.
LINE_CONTROLS = frozenset("\n\r\t")


# What draws nothing and browsers drop from an address besides the format characters
# (UTS 46 maps them to nothing): Unicode's default-ignorable code points, assigned or
# not — variation selectors, the combining grapheme joiner, Hangul fillers, Khmer
# inherent vowels, U+2065, U+FFF0–FFF8, the tag block.
_DEFAULT_IGNORABLE = frozenset(
    chr(code)
    for first, last in (
        (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
        (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
        (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
        (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
        (0xE0000, 0xE0FFF),
    )
    for code in range(first, last + 1)
)
# Full stops a browser reads as the dot of an address (UTS 46), which NFKC keeps.
_ADDRESS_DOTS = str.maketrans(dict.fromkeys("\u3002\uff61", "."))


def text_as_seen(text: str) -> str:
    """What a reader sees in ``text`` and would type again, for the rules that read
    what a text says (the new members' link limit): compatibility forms folded (NFKC:
    "ｃｈｅａｐ．ｒｕ" is "cheap.ru") and the characters that draw nothing removed
    (format characters such as U+200B ZERO WIDTH SPACE, U+00AD SOFT HYPHEN, U+2060 WORD
    JOINER, U+FEFF; variation selectors; unassigned default-ignorable code points such
    as U+2065). Linear in the text."""
    if text.isascii():
        return text
    visible = "".join(
        char for char in text
        if unicodedata.category(char) != "Cf" and char not in _DEFAULT_IGNORABLE
    )
    return unicodedata.normalize("NFKC", visible).translate(_ADDRESS_DOTS)


def _is_visible(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNPS" and char not in BLANK_LETTERS


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


def _joins_visible_characters(text: str, index: int) -> bool:
    """Whether the joiner at ``index`` stands between visible characters (marks on the
    one before it, such as an emoji's variation selector or a virama, belong to it)."""
    before = index - 1
    while before >= 0 and _is_mark(text[before]):
        before -= 1
    after = index + 1
    return before >= 0 and _is_visible(text[before]) and (
        after < len(text) and _is_visible(text[after])
    )


def _refuse_invisible(field: str) -> ActionError:
    return ActionError(
        f"{field}_invalid",
        _("The text contains invisible or control characters."),
        field=field,
    )


def clean_visible_text(raw: str, *, field: str) -> str:
    """One line (a name, a note, a reason): NFC-normalised, whitespace folded (blank
    letters too); refuses control, format and private-use characters except joiners
    between visible characters. Text with nothing visible is empty: the caller says
    whether empty will do."""
    text = " ".join(unicodedata.normalize("NFC", raw or "").translate(_BLANK_AS_SPACE).split())
    for index, char in enumerate(text):
        if unicodedata.category(char) in {"Cc", "Cf", "Co", "Cs"} and not (
            char in JOINERS and _joins_visible_characters(text, index)
        ):
            raise _refuse_invisible(field)
    return text if any(map(_is_visible, text)) else ""


def clean_multiline_text(raw: str, *, field: str) -> str:
    """Several lines (a post, a message, an about text): NFC-normalised and stripped;
    newlines and tabs stay, other control characters and bidi controls are refused
    (PostgreSQL cannot store a NUL at all). Text with nothing visible is empty.

    Other format characters stay as typed, though they draw nothing: real text needs
    them (joiners in emoji and Persian or Indic words, U+200E/U+200F marks in mixed
    right-to-left text, a soft hyphen in a long Russian word, U+200B between Thai or
    Khmer words, tag characters in the Scottish flag), so neither refusing nor removing
    them will do. What they could hide from a rule, a link placed in "cheap\u200b.ru",
    the rule finds by reading ``text_as_seen``."""
    text = unicodedata.normalize("NFC", raw or "").strip()
    for char in text:
        if char in BIDI_CONTROLS or (
            unicodedata.category(char) in {"Cc", "Cs"} and char not in LINE_CONTROLS
        ):
            raise _refuse_invisible(field)
    return text if any(map(_is_visible, text)) else ""


def clean_display_name(raw: str) -> str:
    name = clean_visible_text(raw, field="display_name")
    if not name:
        raise ActionError("display_name_required", _("Enter your name."), field="display_name")
    if not any(unicodedata.category(char)[0] in "LNS" for char in name):  # "..." is no name
        raise ActionError(
            "display_name_without_letters",
            _("A name needs at least one letter, digit or symbol."),
            field="display_name",
        )
    if _folded(name) in _names_of_members_who_left():
        raise ActionError(
            "display_name_reserved",
            _("This is the name the site shows for members who left the network. "
              "Choose another."),
            field="display_name",
        )
    if len(name) > settings.DISPLAY_NAME_MAX_LENGTH:
        raise ActionError(
            "display_name_too_long",
            ngettext(
                "The name can be at most %(limit)d character long.",
                "The name can be at most %(limit)d characters long.",
                settings.DISPLAY_NAME_MAX_LENGTH,
            )
            % {"limit": settings.DISPLAY_NAME_MAX_LENGTH},
            field="display_name",
        )
    return name


def _folded(name: str) -> str:
    return " ".join(name.casefold().split())


def _names_of_members_who_left() -> set[str]:
    """What every member who left is called (``models.shown_name``), in each language:
    a live member so named would pass for one who left."""
    from inviteonly.accounts.models import shown_name

    names = set()
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            names.add(_folded(shown_name("")))
    return names


def clean_time_zone(raw: str) -> str:
    """A zone of the profile page's list (lib.time_zones), or "" for the site's."""
    name = raw.strip()
    if name and not is_time_zone_name(name):
        raise ActionError(
            "time_zone_unknown",
            _("Choose one of the offered time zones."),
            field="time_zone",
        )
    return name


def clean_language(raw: str) -> str:
    codes = [code for code, _name in settings.LANGUAGES]
    if raw not in codes:
        raise ActionError(
            "language_unknown",
            _("Choose one of the offered languages."),
            field="language",
        )
    return raw


def check_new_password(password: str, *, field: str = "password") -> None:
    if len(password or "") > settings.PASSWORD_MAX_LENGTH:
        raise ActionError(
            "password_too_long",
            ngettext(
                "The password can be at most %(limit)d character long.",
                "The password can be at most %(limit)d characters long.",
                settings.PASSWORD_MAX_LENGTH,
            )
            % {"limit": settings.PASSWORD_MAX_LENGTH},
            field=field,
        )
    try:
        password_validation.validate_password(password or "")
    except ValidationError as error:
        raise ActionError("password_weak", " ".join(error.messages), field=field) from error
