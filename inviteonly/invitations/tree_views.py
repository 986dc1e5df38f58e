"""Pages of the invitation tree: my inviter and invitees, the public tree (when the
operator switches it on), and the moderators' branch browser with branch actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from inviteonly.accounts.actions import do_set_public_tree_visibility
from inviteonly.accounts.models import Member
from inviteonly.accounts.views import signed_in_member
from inviteonly.invitations import tree
from inviteonly.invitations.branch_actions import (
    BranchAction,
    BranchPreview,
    do_apply_branch_action,
    preview_branch_action,
)
from inviteonly.lib.errors import ActionError
from inviteonly.lib.web import client_ip, render_form_page, row_id, run_form_action
from inviteonly.moderation.forms import start_of_day

# Inviters shown above a member in the branch browser (a chain can be 10,000 long).
BREADCRUMB_ANCESTORS = 5


class BranchActionForm(forms.Form):
    action = forms.ChoiceField(choices=BranchAction.choices, widget=forms.HiddenInput)
    digest = forms.CharField(widget=forms.HiddenInput, max_length=64)
    reason = forms.CharField(
        label=gettext_lazy("Reason (goes into every affected member's audit entry)"),
        max_length=settings.MODERATION_REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    ends_on = forms.DateField(
        label=gettext_lazy("Ends on (optional; the suspension lapses by itself that day)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, action: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only a suspension of invite rights can end by itself.
        if action != BranchAction.SUSPEND_INVITES:
            del self.fields["ends_on"]


def _page(request: HttpRequest, members: QuerySet[Member]) -> tuple[list[Member], int | None]:
    """A page of a list of the tree after ``?after=`` (a cursor no page wrote, such as
    ?after=nonsense, is the first page), and the next page's cursor."""
    return tree.members_page(
        members, after=row_id(request.GET.get("after")), limit=settings.TREE_CHILDREN_PER_PAGE
    )


@login_required
def my_tree_view(request: HttpRequest) -> HttpResponse:
    member = signed_in_member(request)
    invitees, next_after = _page(request, tree.invitees_of(member))
    return render(
        request,
        "invitations/my_tree.html",
        {
            "inviter": member.invited_by,
            "next_after": next_after,
            "children": tree.children_with_counts(member, invitees),
            "public_tree_page": settings.PUBLIC_TREE_PAGE,
        },
    )


@login_required
@require_POST
def public_tree_visibility_view(request: HttpRequest) -> HttpResponse:
    hidden = request.POST.get("hidden") == "1"
    do_set_public_tree_visibility(member=signed_in_member(request), hidden=hidden)
    messages.success(
        request,
        _("You are now hidden from the public tree.")
        if hidden
        else _("You are now shown on the public tree."),
    )
    return redirect("my_tree")


def _sees_everything(request: HttpRequest) -> bool:
    if not isinstance(request.user, Member):
        return False
    try:
        tree.check_can_moderate_tree(request.user)
    except ActionError:
        return False
    return True


def public_tree_view(request: HttpRequest, member_id: int | None = None) -> HttpResponse:
    """Open to everyone when PUBLIC_TREE_PAGE is on. Hidden and banned members are
    left out (a moderator browses them in the branch browser)."""
    try:
        if member_id is None:
            tree.check_public_tree_open()
            member, members = None, tree.public_roots()
        else:
            member = tree.access_public_tree_member(member_id)
            members = tree.public_invitees_of(member)
    except ActionError as error:
        raise Http404 from error
    listed, next_after = _page(request, members)
    return render(
        request,
        "invitations/public_tree.html",
        {"member": member, "members": listed, "next_after": next_after,
         "moderator": _sees_everything(request)},
    )


def _moderator(request: HttpRequest) -> Member:
    member = signed_in_member(request)
    try:
        tree.check_can_moderate_tree(member)
    except ActionError as error:
        raise Http404 from error
    return member


def _fresh_preview(
    moderator: Member, root: Member, action: BranchAction, ends_at: datetime | None
) -> BranchPreview:
    """The preview to confirm again after a refusal: for the end date typed, or, when
    that date was what was refused (the form says why), for none."""
    try:
        return preview_branch_action(
            moderator=moderator, root=root, action=action, ends_at=ends_at
        )
    except ActionError as error:
        if error.field != "ends_at":
            raise
        return preview_branch_action(moderator=moderator, root=root, action=action)


@login_required
def branch_browser_view(request: HttpRequest, member_id: int | None = None) -> HttpResponse:
    """A moderator looks at one member: the inviters above, the counts of the branch,
    the invitees level by level with the counts of their branches; a preview of a
    branch action, then its confirmation."""
    moderator = _moderator(request)
    try:
        member = tree.access_tree_member(moderator, member_id) if member_id else None
    except ActionError as error:
        raise Http404 from error
    if member is None:
        listed, next_after = _page(request, tree.roots())
        roots = tree.with_open_reports(moderator, None, tree.children_with_counts(None, listed))
        return render(request, "invitations/branch_roots.html",
                      {"roots": roots, "next_after": next_after})
    preview: BranchPreview | None = None
    form = BranchActionForm(request.POST or None, action=request.POST.get("action"))
    if request.method == "POST":
        applied = run_form_action(
            request,
            form,
            lambda data: do_apply_branch_action(
                moderator=moderator,
                root=member,
                action=BranchAction(data["action"]),
                digest=data["digest"],
                reason=data["reason"],
                ends_at=start_of_day(data.get("ends_on")),
                ip_address=client_ip(request),
            ),
        )
        if applied is not None:
            messages.success(
                request,
                ngettext(
                    "Done: %(action)s, %(count)d member changed.",
                    "Done: %(action)s, %(count)d members changed.",
                    applied.affected,
                )
                % {"action": applied.action.label, "count": applied.affected},
            )
            return redirect("branch_browser_member", member_id=member.pk)
        action = getattr(form, "cleaned_data", {}).get("action")
        if action:
            # Refused (a changed branch, no reason, an end date out of range): show the
            # branch as it is now, with a fresh digest, to confirm again.
            preview = _fresh_preview(
                moderator,
                member,
                BranchAction(action),
                start_of_day(getattr(form, "cleaned_data", {}).get("ends_on")),
            )
            data = cast(QueryDict, form.data).copy()
            data["digest"] = preview.digest
            form.data = data
    elif request.GET.get("action") in BranchAction.values:
        preview = preview_branch_action(
            moderator=moderator, root=member, action=BranchAction(request.GET["action"])
        )
        form = BranchActionForm(
            initial={"action": preview.action, "digest": preview.digest}, action=preview.action
        )
    invitees, next_after = _page(request, tree.invitees_of(member))
    ancestors = tree.ancestors_of(member, nearest=BREADCRUMB_ANCESTORS)
    return render_form_page(
        request,
        "invitations/branch_browser.html",
        {
            "member": member,
            "ancestors": ancestors,
            "depth": len(tree.ancestor_ids(member)),
            "counts": tree.branch_counts(member),
            "open_reports": tree.open_reports_in_branch(moderator, member),
            "next_after": next_after,
            "children": tree.with_open_reports(
                moderator, member, tree.children_with_counts(member, invitees)
            ),
            "actions": BranchAction.choices,
            "preview": preview,
        },
        form=form,
    )
