"""Page forms of the social layer (shape only; the rules are in the actions)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.forms import phone_field
from inviteonly.social.models import Audience


class ProfileForm(forms.Form):
    about = forms.CharField(
        label=_("About me"), required=False, max_length=settings.PROFILE_ABOUT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    wall_audience = forms.ChoiceField(label=_("Who may see my wall"), choices=Audience.choices)
    message_audience = forms.ChoiceField(
        label=_("Who may write to me"), choices=Audience.choices
    )
    findable_by_phone = forms.BooleanField(
        label=_("Members who know my phone number may find me by it"), required=False
    )


class AvatarForm(forms.Form):
    avatar = forms.FileField(
        label=_("Avatar"),
        help_text=_("JPEG, PNG, GIF or WebP. It is cropped to a square; the photo's "
                    "metadata (such as where it was taken) is removed."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )


class TextForm(forms.Form):
    """A wall post or a message."""

    text = forms.CharField(
        label=_("Text"), max_length=settings.WALL_POST_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class FindByPhoneForm(forms.Form):
    phone = phone_field()
