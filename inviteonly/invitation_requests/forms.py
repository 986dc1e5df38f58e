"""The form of a request for an invitation (shape only; the rules are in the actions)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.forms import phone_field


class RequestInvitationForm(forms.Form):
    phone = phone_field()
    note = forms.CharField(
        label=_("About you"),
        help_text=_("Who you are and why you want to join. Members read this; they never "
                    "see your number. Do not write contact details here."),
        max_length=settings.INVITATION_REQUEST_NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
