"""Pages: ask for an invitation, follow the request, and (members who may invite)
browse, vouch for and grant requests."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from inviteonly.accounts.views import signed_in_member
from inviteonly.invitation_requests.actions import (
    do_grant_invitation_request,
    do_request_invitation,
    do_vouch_for_request,
    do_withdraw_invitation_request,
)
from inviteonly.invitation_requests.forms import RequestInvitationForm
from inviteonly.invitation_requests.queries import (
    RequestCursor,
    access_request_by_status_token,
    open_requests_page,
)
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.lib.phone_numbers import country_name
from inviteonly.lib.web import client_ip, render_form_page, run_form_action

REQUESTS_PER_PAGE = 25


def ask_view(request: HttpRequest) -> HttpResponse:
    form = RequestInvitationForm(request.POST or None, initial={"language": get_language()})
    submitted = run_form_action(
        request,
        form,
        lambda data: do_request_invitation(
            phone=data["phone"], note=data["note"], language=data["language"],
            ip_address=client_ip(request),
        ),
    )
    if submitted is not None:
        return redirect("invitation_request_status", token=submitted.status_token)
    return render_form_page(request, "invitation_requests/ask.html", {}, form=form)


def status_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation_request = access_request_by_status_token(token)
    except ActionError as error:
        return render(request, "invitation_requests/status.html", {"refusal": error.message},
                      status=error.status)
    return render(request, "invitation_requests/status.html", {
        "invitation_request": invitation_request,
        "state": invitation_request.state_at(clock.now()),
        "status_url": request.build_absolute_uri(),
        "status_token": token,
    })


@require_POST
def withdraw_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        do_withdraw_invitation_request(token=token, ip_address=client_ip(request))
    except ActionError as error:
        return render(request, "invitation_requests/status.html", {"refusal": error.message},
                      status=error.status)
    messages.success(request, _("Your request is withdrawn: its number and note are deleted, "
                                "and members no longer see it."))
    return redirect("ask_for_invitation")


@login_required
def open_requests_view(request: HttpRequest) -> HttpResponse:
    try:
        # A cursor no page wrote (?after=nonsense) is the first page.
        page, next_after = open_requests_page(
            signed_in_member(request), after=RequestCursor.parse(request.GET.get("after")),
            limit=REQUESTS_PER_PAGE,
        )
    except ActionError as error:
        return render(request, "invitation_requests/list.html", {"refusal": error.message})
    language = get_language()
    rows = [(item, country_name(item.region, language)) for item in page]
    return render(request, "invitation_requests/list.html", {
        "rows": rows, "next_after": None if next_after is None else str(next_after),
    })


@login_required
@require_POST
def vouch_view(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        do_vouch_for_request(member=signed_in_member(request), request_id=request_id)
    except ActionError as error:
        messages.error(request, str(error.message))
    return redirect("invitation_requests")


@login_required
@require_POST
def grant_view(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        do_grant_invitation_request(
            member=signed_in_member(request), request_id=request_id, ip_address=client_ip(request)
        )
    except ActionError as error:
        messages.error(request, str(error.message))
        return redirect("invitation_requests")
    messages.success(request, _("Invitation sent: the person gets an SMS with your invitation."))
    return redirect("invitations")
