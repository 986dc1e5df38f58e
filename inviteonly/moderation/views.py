"""Moderator pages: open cases, the queue of reported items with the forms to decide
on them, and one member's rights, sanctions and strikes with the forms to decide
(warn, quarantine, ban, suspend or grant invite rights, end); and the report form
every member uses."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from inviteonly.accounts.models import Member
from inviteonly.accounts.views import signed_in_member
from inviteonly.invitations.actions import do_grant_invite_rights, do_withdraw_invite_rights_grant
from inviteonly.invitations.models import InviteRightsGrant
from inviteonly.invitations.rights import evaluate_invite_rights
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.lib.web import client_ip, render_form_page, row_id, run_form_action, safe_next
from inviteonly.moderation.actions import (
    do_ban_member,
    do_lift_sanction,
    do_quarantine_member,
    do_report_item,
    do_resolve_reports,
    do_suspend_invite_rights,
    do_warn_member,
)
from inviteonly.moderation.forms import (
    Decision,
    DecisionForm,
    EndSanctionForm,
    ReportForm,
    ResolveReportsForm,
    WithdrawGrantForm,
)
from inviteonly.moderation.models import Sanction, SanctionKind
from inviteonly.moderation.queries import (
    access_member_for_moderation,
    check_is_moderator,
    conflict_of_interest,
    moderation_queue,
    moderation_refusal,
    open_quarantines,
    reported_item,
    sanctions_of,
    strikes_of,
)

OPEN_CASES_LIMIT = 100

Arguments = ParamSpec("Arguments")


def _refused(request: HttpRequest, error: ActionError) -> HttpResponse:
    return render(request, "moderation/refused.html", {"reason": error.message},
                  status=error.status)


def moderators_only(
    view: Callable[Concatenate[HttpRequest, Arguments], HttpResponse],
) -> Callable[Concatenate[HttpRequest, Arguments], HttpResponse]:
    """Log in first; then anyone but an active moderator or founder gets the usual
    refusal before the view reads anything, so that no answer depends on whether a
    sanction, grant, member or report exists."""

    @login_required
    @wraps(view)
    def checked(
        request: HttpRequest, *args: Arguments.args, **kwargs: Arguments.kwargs
    ) -> HttpResponse:
        try:
            check_is_moderator(signed_in_member(request))
        except ActionError as error:
            return _refused(request, error)
        return view(request, *args, **kwargs)

    return checked


@moderators_only
def open_cases_view(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    moderator = signed_in_member(request)
    cases = list(open_quarantines(moderator, now=now)[:OPEN_CASES_LIMIT])
    # Past the limit the page says how many wait in all: the newest are not shown.
    total = (
        open_quarantines(moderator, now=now).count()
        if len(cases) == OPEN_CASES_LIMIT else len(cases)
    )
    return render(request, "moderation/open_cases.html", {"cases": cases, "total": total})


def _decide(
    moderator: Member, member: Member, form: DecisionForm, *, ip_address: str | None
) -> object:
    data: dict[str, Any] = form.cleaned_data
    decision = data["decision"]
    reason = data["reason"]
    if decision == Decision.GRANT_INVITES:
        return do_grant_invite_rights(
            member=member, moderator=moderator, reason=reason, ends_at=form.ends_at(),
            ip_address=ip_address,
        )
    if decision == Decision.SUSPEND_INVITES:
        return do_suspend_invite_rights(
            member=member, moderator=moderator, reason=reason, ends_at=form.ends_at(),
            ip_address=ip_address,
        )
    sanction = {
        Decision.WARN: do_warn_member,
        Decision.QUARANTINE: do_quarantine_member,
        Decision.BAN: do_ban_member,
    }[Decision(decision)]
    return sanction(member=member, moderator=moderator, reason=reason, for_spam=data["for_spam"],
                    ip_address=ip_address)


@moderators_only
def member_view(request: HttpRequest, member_id: int) -> HttpResponse:
    moderator = signed_in_member(request)
    try:
        member = access_member_for_moderation(moderator, member_id)
    except ActionError as error:
        return _refused(request, error)
    form = DecisionForm(request.POST or None)
    if run_form_action(request, form, lambda _data: _decide(
        moderator, member, form, ip_address=client_ip(request)
    )):
        messages.success(request, _("Decision recorded."))
        return redirect("moderation_member", member_id=member.id)
    return _member_page(request, member, decision_form=form)


def _member_page(
    request: HttpRequest, member: Member, *, decision_form: DecisionForm,
    refused: EndSanctionForm | WithdrawGrantForm | None = None,
) -> HttpResponse:
    """A member's page: the decision form, and an end or withdraw form per sanction or
    grant; ``refused``, one of those sent back, in its row with its errors."""
    now = clock.now()

    def row_form(form_class: type[forms.Form], auto_id: str) -> forms.Form:
        # Each row's form has ids of its own: the decision's and theirs all have a
        # reason, and a label names the field with its id.
        if isinstance(refused, form_class) and refused.auto_id == auto_id:
            return refused
        return form_class(auto_id=auto_id)

    def end_form(sanction: Sanction, mistake_refusal: ActionError | None) -> forms.Form:
        form = row_form(EndSanctionForm, f"id_sanction_{sanction.id}_%s")
        if mistake_refusal is not None and isinstance(form, EndSanctionForm):
            form.only_as_deserved()
        return form

    viewer = signed_in_member(request)
    sanctions = list(sanctions_of(member))
    # A member the viewer may not decide about (a peer, a founder, themselves): no
    # form, since every one would be refused; the page says who decides instead.
    refusal = moderation_refusal(viewer, member)
    # A ban the viewer may not declare a mistake (they invited the member): the page
    # offers only what the action would do, and says why.
    ban_mistake_refusal = (
        conflict_of_interest(viewer, member)
        if refusal is None and any(
            sanction.kind == SanctionKind.BAN and sanction.upheld for sanction in sanctions
        )
        else None
    )
    rows = []
    for sanction in sanctions:
        mistake_refusal = ban_mistake_refusal if sanction.kind == SanctionKind.BAN else None
        rows.append((sanction, sanction.in_force_at(now), end_form(sanction, mistake_refusal),
                     mistake_refusal.message if mistake_refusal is not None else None))
    context = {
        "member": member,
        "not_yours_to_decide": refusal.message if refusal is not None else None,
        "rights": evaluate_invite_rights(member),
        "decision_form": decision_form,
        "sanctions": rows,
        "grants": [
            (grant, grant.in_force_at(now),
             row_form(WithdrawGrantForm, f"id_grant_{grant.id}_%s"))
            for grant in InviteRightsGrant.objects.filter(member=member)
            .select_related("granted_by")
            .order_by("-created_at")
        ],
        "strikes": list(strikes_of(member)),
    }
    return render_form_page(request, "moderation/member.html", context,
                            form=decision_form if refused is None else refused)


def _after_form(
    request: HttpRequest, form: EndSanctionForm | WithdrawGrantForm, member_id: int | None,
    done: str | None,
) -> HttpResponse:
    """Back to the member page with the outcome as a message; a form that is itself
    wrong (no reason) on the page, by its fields."""
    refusal = getattr(form, "refusal", None)
    if member_id is None or (isinstance(refusal, ActionError) and refusal.status in (403, 404)):
        return _refused(
            request,
            refusal if isinstance(refusal, ActionError)
            else ActionError("not_found", _("There is no such record."), status=404),
        )
    if done is not None:
        messages.success(request, done)
    elif refusal is None:
        try:
            member = access_member_for_moderation(signed_in_member(request), member_id)
        except ActionError as error:
            return _refused(request, error)
        return _member_page(request, member, decision_form=DecisionForm(), refused=form)
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(str(error) for error in errors))
    return redirect("moderation_member", member_id=member_id)


@require_POST
@moderators_only
def end_sanction_view(request: HttpRequest, sanction_id: int) -> HttpResponse:
    form = EndSanctionForm(request.POST, auto_id=f"id_sanction_{sanction_id}_%s")
    sanction = run_form_action(
        request,
        form,
        lambda data: do_lift_sanction(
            sanction_id=sanction_id, moderator=signed_in_member(request), reason=data["reason"],
            upheld=data["upheld"], ip_address=client_ip(request),
        ),
    )
    member_id = (
        Sanction.objects.filter(id=sanction_id).values_list("member_id", flat=True).first()
    )
    return _after_form(
        request, form, member_id, _("The sanction has ended.") if sanction else None
    )


@require_POST
@moderators_only
def withdraw_grant_view(request: HttpRequest, grant_id: int) -> HttpResponse:
    form = WithdrawGrantForm(request.POST, auto_id=f"id_grant_{grant_id}_%s")
    grant = run_form_action(
        request,
        form,
        lambda data: do_withdraw_invite_rights_grant(
            grant_id=grant_id, moderator=signed_in_member(request), reason=data["reason"],
            ip_address=client_ip(request),
        ),
    )
    member_id = (
        InviteRightsGrant.objects.filter(id=grant_id).values_list("member_id", flat=True).first()
    )
    return _after_form(
        request, form, member_id, _("The grant is withdrawn.") if grant else None
    )


def _report_queue_page(
    request: HttpRequest, *, refused: ResolveReportsForm | None = None
) -> HttpResponse | None:
    """The queue, one form per item; ``refused``, a form sent back, in its item's place
    with its errors and what was chosen (None if the item is not on the page)."""
    # A cursor no page wrote (?before=nonsense) is the first page.
    items, next_before = moderation_queue(signed_in_member(request),
                                          before=row_id(request.GET.get("before")))
    forms = [ResolveReportsForm(prefix=f"{item.target_kind}-{item.target_id}") for item in items]
    if refused is not None:
        places = [index for index, form in enumerate(forms) if form.prefix == refused.prefix]
        if not places:
            return None
        forms[places[0]] = refused
    context = {
        "items": list(zip(items, forms, strict=True)),
        "next_before": next_before,
    }
    if refused is None:
        return render(request, "moderation/reports.html", context)
    return render_form_page(request, "moderation/reports.html", context, form=refused)


@moderators_only
def report_queue_view(request: HttpRequest) -> HttpResponse:
    response = _report_queue_page(request)
    assert response is not None
    return response


@require_POST
@moderators_only
def resolve_reports_view(request: HttpRequest, target_kind: str, target_id: int) -> HttpResponse:
    form = ResolveReportsForm(request.POST, prefix=f"{target_kind}-{target_id}")
    resolved = run_form_action(
        request,
        form,
        lambda data: do_resolve_reports(
            moderator=signed_in_member(request), target_kind=target_kind, target_id=target_id,
            decision=data["decision"], reason=data["reason"], for_spam=data["for_spam"],
            ip_address=client_ip(request),
        ),
    )
    refusal = getattr(form, "refusal", None)
    if isinstance(refusal, ActionError) and refusal.status == 403:
        return _refused(request, refusal)
    if resolved:
        messages.success(request, _("Decision recorded; the reporters are notified."))
        return redirect("moderation_reports")
    if refusal is None:
        # The form itself is wrong (no reason): by its fields, in the queue.
        page = _report_queue_page(request, refused=form)
        if page is not None:
            return page
    for errors in form.errors.values():
        messages.error(request, " ".join(str(error) for error in errors))
    return redirect("moderation_reports")


@login_required
def report_view(request: HttpRequest, target_kind: str, target_id: int) -> HttpResponse:
    """The report form for one post, message or profile; back where the member came
    from when it is filed."""
    reporter = signed_in_member(request)
    try:
        item = reported_item(reporter, target_kind=target_kind, target_id=target_id)
    except ActionError as error:
        return render(request, "social/refused.html", {"refusal": error.message},
                      status=error.status)
    back = safe_next(request)
    form = ReportForm(request.POST or None)
    report = run_form_action(request, form, lambda data: do_report_item(
        reporter=reporter, target_kind=target_kind, target_id=target_id,
        reason=data["reason"], details=data["details"], ip_address=client_ip(request),
    ))
    if report is not None:
        messages.success(request, _("Thank you: the moderators will look at your report."))
        return redirect(back or reverse("member_profile", args=[item.author.id]))
    return render_form_page(request, "moderation/report.html", {
        "item": item, "next": back,
    }, form=form)
