"""Page forms: they check shape only; the rules live in the actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from inviteonly.lib.phone_numbers import MAX_INPUT_LENGTH
from inviteonly.lib.time_zones import time_zone_names

if TYPE_CHECKING:  # django-stubs-ext comes with mypy, not with the site
    from django_stubs_ext import StrOrPromise


def phone_field(*, own: bool = True) -> forms.CharField:
    """A mobile number; ``own=False`` for someone else's (an invitee's, a friend's),
    where the browser must not offer the person's own number."""
    return forms.CharField(
        label=_("Mobile number"),
        max_length=MAX_INPUT_LENGTH,
        widget=forms.TextInput(attrs={
            "type": "tel", "inputmode": "tel", "autocomplete": "tel" if own else "off",
            "placeholder": "+7 916 123-45-67",
        }),
    )


def password_field(label: StrOrPromise, *, autocomplete: str) -> forms.CharField:
    """A password; a new one (``autocomplete="new-password"``) says beforehand how
    long it must be, rather than only in the refusal of a shorter one."""
    return forms.CharField(
        label=label,
        max_length=settings.PASSWORD_MAX_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
        help_text=_new_password_rule() if autocomplete == "new-password" else "",
    )


def _password_rule() -> str:
    # Formatted when a page shows it, in that page's language: a class attribute's
    # ngettext_lazy(...) % {...} is formatted once, in the language active at import.
    length = settings.PASSWORD_MIN_LENGTH
    return ngettext(
        "At least %(count)d character.", "At least %(count)d characters.", length
    ) % {"count": length}


_new_password_rule = lazy(_password_rule, str)


def code_field() -> forms.CharField:
    return forms.CharField(
        label=_("Code from the SMS"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}
        ),
    )


class LoginForm(forms.Form):
    phone = phone_field()
    password = password_field(_("Password"), autocomplete="current-password")


class RecoverForm(forms.Form):
    phone = phone_field()


class RecoverConfirmForm(forms.Form):
    code = code_field()
    new_password = password_field(_("New password"), autocomplete="new-password")


class ChangePasswordForm(forms.Form):
    current_password = password_field(_("Current password"), autocomplete="current-password")
    new_password = password_field(_("New password"), autocomplete="new-password")


class LeaveForm(forms.Form):
    password = password_field(_("Your password"), autocomplete="current-password")
    # Checked by the action (do_leave_network), which says what is missing.
    confirm = forms.BooleanField(
        label=_("I understand that leaving cannot be undone."), required=False
    )


class CodeForm(forms.Form):
    code = code_field()


class PhoneChangeForm(forms.Form):
    password = password_field(_("Your password"), autocomplete="current-password")
    phone = phone_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["phone"].label = _("New mobile number")


class JoinForm(forms.Form):
    phone = phone_field()
    display_name = forms.CharField(
        label=_("Your name"),
        max_length=settings.DISPLAY_NAME_MAX_LENGTH,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = password_field(_("Password"), autocomplete="new-password")
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)


class InviteForm(forms.Form):
    phone = phone_field(own=False)
    note = forms.CharField(
        label=_("Note for the invitee (optional)"),
        max_length=settings.INVITATION_NOTE_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class TextareaField(forms.CharField):
    """Text of several lines, in a textarea that takes at most ``limit`` characters.

    The textarea counts a line break as one character, but the browser sends it as
    CRLF: here each is one line feed again, so the action counts what the textarea did
    (and what the API takes). The action checks the length and says what is wrong, in
    the words the API uses too."""

    def __init__(self, *, limit: int, rows: int, **kwargs: Any) -> None:
        super().__init__(widget=forms.Textarea(attrs={"rows": rows, "maxlength": limit}),
                         **kwargs)

    def to_python(self, value: Any) -> str | None:
        text = super().to_python(value)
        return None if text is None else text.replace("\r\n", "\n")


class TimeZoneForm(forms.Form):
    """The zone the member reads times in: the site's (empty), or one of every zone the
    system knows. Any text passes here; ``do_set_time_zone`` refuses one not listed."""

    time_zone = forms.CharField(label=_("Show dates and times in"), required=False,
                                max_length=64)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site_zone = _("The site's time zone (%(zone)s)") % {"zone": settings.SITE_TIME_ZONE}
        self.fields["time_zone"].widget = forms.Select(
            choices=[("", site_zone), *((name, name) for name in time_zone_names())]
        )
