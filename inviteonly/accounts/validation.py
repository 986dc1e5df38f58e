"""Checks on what a newcomer types: display name, language, password."""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from inviteonly.lib.errors import ActionError


def clean_visible_text(raw: str, *, field: str) -> str:
    """NFC-normalised, whitespace folded; refuses invisible and control characters
    (a right-to-left override can make a name or a note read as something else)."""
    text = " ".join(unicodedata.normalize("NFC", raw or "").split())
    if any(unicodedata.category(char) in {"Cc", "Cf", "Co", "Cs"} for char in text):
        raise ActionError(
            f"{field}_invalid",
            _("The text contains invisible or control characters."),
            field=field,
        )
    return text


def clean_display_name(raw: str) -> str:
    name = clean_visible_text(raw, field="display_name")
    if not name:
        raise ActionError("display_name_required", _("Enter your name."), field="display_name")
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
