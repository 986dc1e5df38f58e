"""The forms of the moderator's member page, of the report queue, and the report form
members fill in."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django import forms
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.forms import TextareaField
from inviteonly.moderation.models import ReportDecision, ReportReason


class Decision(models.TextChoices):
    WARN = "warn", _("Warn")
    QUARANTINE = "quarantine", _("Quarantine until reviewed")
    BAN = "ban", _("Ban")
    SUSPEND_INVITES = "suspend_invites", _("Suspend invite rights")
    GRANT_INVITES = "grant_invites", _("Grant invite rights")


def reason_field() -> forms.CharField:
    return forms.CharField(
        label=_("Reason (the member sees it)"),
        max_length=settings.MODERATION_REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=Decision.choices)
    reason = reason_field()
    for_spam = forms.BooleanField(
        label=_("For spam (strikes the inviter on a ban)"), required=False
    )
    ends_on = forms.DateField(
        label=_("Ends on (optional; suspensions and grants)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        # A warning, a quarantine or a ban lasts until a moderator ends it: an end date
        # given with one would be dropped without a word (branch actions refuse it too).
        if self.cleaned_data.get("ends_on") and self.cleaned_data.get("decision") not in (
            Decision.SUSPEND_INVITES, Decision.GRANT_INVITES,
        ):
            self.add_error("ends_on", forms.ValidationError(
                _("Only a suspension or a grant of invite rights can have an end date."),
                code="ends_at_not_applicable",
            ))
        return cleaned

    def ends_at(self) -> datetime | None:
        return start_of_day(self.cleaned_data.get("ends_on"))


def start_of_day(day: date | None) -> datetime | None:
    """An optional end date as the moment it begins (the site's time zone)."""
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min))


class EndSanctionForm(forms.Form):
    reason = reason_field()
    upheld = forms.BooleanField(
        label=_("The sanction was deserved (keep it on the record)"), required=False
    )

    def only_as_deserved(self) -> EndSanctionForm:
        """For a moderator who may not declare the sanction a mistake: the form ends it
        as deserved, with no box to untick (moderation.queries.conflict_of_interest)."""
        self.fields["upheld"].widget = forms.HiddenInput()
        self.fields["upheld"].initial = True
        return self


class WithdrawGrantForm(forms.Form):
    reason = reason_field()


class ReportForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Why do you report this?"), choices=ReportReason.choices,
        widget=forms.RadioSelect,
    )
    details = TextareaField(
        label=_("Details for the moderators (optional)"), required=False,
        limit=settings.REPORT_DETAILS_MAX_LENGTH, rows=3,
    )


class ResolveReportsForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=ReportDecision.choices)
    reason = reason_field()
    for_spam = forms.BooleanField(
        label=_("For spam (strikes the inviter on a ban)"), required=False
    )
