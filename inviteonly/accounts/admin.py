"""Admin for members: numbers only masked, passwords never editable here, and no
member added here (members join with a verified number; `inviteonly founder` prints a
founder's link) or deleted. A change of role or status, with its reason, goes through
the audited actions (moderation/actions.py): the status through the sanctions that call
for it, as a moderator's decision would."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.models import Member
from inviteonly.accounts.validation import clean_display_name
from inviteonly.lib.admin import AdministratorsChangeAdmin
from inviteonly.lib.errors import ActionError
from inviteonly.lib.web import client_ip
from inviteonly.moderation.actions import (
    clean_moderation_reason,
    do_change_role,
    do_set_status_as_operator,
)

STANDING_FIELDS = ("role", "status")
MEMBER_FIELDS = (
    "display_name", "phone_masked", "language", "role", "status", "reason", "is_staff",
    "is_superuser", "invited_by", "joined_at", "last_login",
)


class MemberAdminForm(forms.ModelForm):
    reason = forms.CharField(
        label=_("Reason for a change of role or status"),
        help_text=_("Required with such a change; the audit log keeps it, and the member "
                    "sees the reason of a sanction."),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    class Meta:
        model = Member
        fields = ("display_name", "language", "role", "status")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the member leaves (accounts.actions.do_leave_network); no operator sets it.
        status = self.fields.get("status")
        if isinstance(status, forms.ChoiceField):
            status.choices = [
                choice for choice in Member.Status.choices if choice[0] != Member.Status.LEFT
            ]

    def clean_display_name(self) -> str:
        """A new name follows the rules a member's own does (accounts.validation): no
        live member is called what the site calls members who left, nor nothing
        visible. A name left as it is stays, whatever rules came after it."""
        name: str = self.cleaned_data["display_name"]
        if "display_name" not in self.changed_data:
            return name
        try:
            return clean_display_name(name)
        except ActionError as refusal:
            raise forms.ValidationError(str(refusal.message), code=refusal.code) from None

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if any(field in self.changed_data for field in STANDING_FIELDS):
            try:
                self.cleaned_data["reason"] = clean_moderation_reason(
                    self.cleaned_data.get("reason", "")
                )
            except ActionError as refusal:
                self.add_error("reason", str(refusal.message))
        return cleaned


@admin.register(Member)
class MemberAdmin(AdministratorsChangeAdmin):
    form = MemberAdminForm
    list_display = ("display_name", "phone_masked", "role", "status", "joined_at", "invited_by")
    list_filter = ("role", "status", "language")
    search_fields = ("display_name",)
    list_select_related = ("invited_by",)
    fields = MEMBER_FIELDS
    # Staff and superuser come with the founder's role (do_change_role).
    readonly_fields = (
        "phone_masked", "is_staff", "is_superuser", "invited_by", "joined_at", "last_login",
    )
    ordering = ("-joined_at",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if self._own(request, obj):
            return tuple(field for field in MEMBER_FIELDS if field != "reason")
        return MEMBER_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if self._own(request, obj):  # nobody changes their own role or status
            return (*STANDING_FIELDS, *self.readonly_fields)
        if obj is not None and obj.status == Member.Status.LEFT:
            # Nothing of the person is left to change, nor does anyone come back.
            return ("display_name", "language", *STANDING_FIELDS, *self.readonly_fields)
        return tuple(self.readonly_fields)

    @staticmethod
    def _own(request: HttpRequest, obj: Any) -> bool:
        return obj is not None and obj.pk == request.user.pk

    def save_model(self, request: HttpRequest, obj: Member, form: Any, change: bool) -> None:
        operator = request.user
        assert isinstance(operator, Member)
        standing = {field: getattr(obj, field) for field in STANDING_FIELDS}
        # The name and language as they are; the role and status only by the actions.
        obj.save(update_fields=["display_name", "language"])
        reason = form.cleaned_data.get("reason", "")
        if "role" in form.changed_data:
            do_change_role(member=obj, operator=operator, role=standing["role"], reason=reason,
                           ip_address=client_ip(request))
        if "status" in form.changed_data:
            do_set_status_as_operator(member=obj, operator=operator, status=standing["status"],
                                      reason=reason, ip_address=client_ip(request))
        obj.refresh_from_db()
