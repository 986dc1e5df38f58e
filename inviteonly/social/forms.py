"""Page forms of the social layer (shape only; the rules are in the actions)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.forms import TextareaField, phone_field
from inviteonly.social.idempotency import new_submission_key
from inviteonly.social.models import Audience


class ProfileForm(forms.Form):
    about = TextareaField(
        label=_("About me"), required=False, limit=settings.PROFILE_ABOUT_MAX_LENGTH, rows=4,
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
        label=_("Choose a picture"),
        help_text=_("JPEG, PNG, GIF or WebP. It is cropped to a square; the photo's "
                    "metadata (such as where it was taken) is removed."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )


def submission_key_field() -> forms.CharField:
    """A form's single-use key, new each time the form is shown (a refused form shown
    again keeps it: nothing was written): the same form sent twice, by a double tap or
    a resent page, writes once (social.idempotency). Optional, so that a form shown
    before it existed still posts; the action checks what it holds."""
    return forms.CharField(widget=forms.HiddenInput, required=False,
                           initial=new_submission_key)


class WallPostForm(forms.Form):
    text = TextareaField(label=_("Write on the wall"), limit=settings.WALL_POST_MAX_LENGTH,
                         rows=3)
    submission_key = submission_key_field()


class MessageForm(forms.Form):
    text = TextareaField(label=_("Text"), limit=settings.MESSAGE_MAX_LENGTH, rows=3)
    submission_key = submission_key_field()


class FindByPhoneForm(forms.Form):
    phone = phone_field(own=False)
