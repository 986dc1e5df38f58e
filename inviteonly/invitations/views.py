"""Pages: invite (with the rights checklist), my invitations (with revoking), join (by
link or, in open mode, without one)."""

from __future__ import annotations

from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from inviteonly.accounts.actions import (
    check_registration_open,
    do_confirm_join,
    do_log_in,
    do_start_join,
)
from inviteonly.accounts.device_tokens import issue_device_token
from inviteonly.accounts.forms import CodeForm, InviteForm, JoinForm
from inviteonly.accounts.models import Member
from inviteonly.accounts.views import set_device_cookie, set_language_cookie
from inviteonly.invitations.actions import do_invite_by_phone, do_revoke_invitation
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.queries import access_invitation_by_token, invitations_sent_by
from inviteonly.invitations.rights import evaluate_invite_rights
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.lib.time_zones import shown_date
from inviteonly.lib.web import client_ip, render_form_page, row_id, run_form_action
from inviteonly.sms.models import SmsStatusForSender
from inviteonly.social.queries import page_before

JOIN_SESSION_KEY = "join_verification_id"
# Whether the join began at an invitation link (the link itself is not kept: its token
# is stored nowhere in clear), for the code page's way to start again.
JOIN_BY_LINK_SESSION_KEY = "join_by_link"
# Whether that link was a founder link (no inviter): printed by `serve` or `founder`,
# never sent by SMS.
JOIN_BY_FOUNDER_LINK_SESSION_KEY = "join_by_founder_link"
INVITATIONS_PER_PAGE = 50


def _member(request: HttpRequest) -> Member:
    assert isinstance(request.user, Member)
    return request.user


@login_required
def invite_view(request: HttpRequest) -> HttpResponse:
    member = _member(request)
    rights = evaluate_invite_rights(member)
    form = InviteForm(request.POST or None)
    invitation = run_form_action(
        request,
        form,
        lambda data: do_invite_by_phone(
            inviter=member, phone=data["phone"], note=data["note"], ip_address=client_ip(request)
        ),
    )
    if invitation is not None:
        messages.success(
            request,
            _("Invitation sent to %(phone)s. It is valid until %(date)s.")
            % {
                "phone": invitation.phone_masked,
                "date": shown_date(invitation.expires_at),
            },
        )
        return redirect("invitations")
    return render_form_page(request, "invitations/invite.html", {"rights": rights}, form=form)


@login_required
def invitations_view(request: HttpRequest) -> HttpResponse:
    """Newest first by id, a page at a time (?before=<id>; anything else: the first)."""
    invitations, next_before = page_before(
        invitations_sent_by(_member(request)), row_id(request.GET.get("before")),
        INVITATIONS_PER_PAGE,
    )
    now = clock.now()
    rows = [
        (invitation, invitation.state_at(now),
         SmsStatusForSender.of(invitation.sms_status, from_request=invitation.from_request))
        for invitation in invitations
    ]
    return render(request, "invitations/list.html",
                  {"rows": rows, "next_before": next_before})


@require_POST
@login_required
def revoke_invitation_view(request: HttpRequest, invitation_id: int) -> HttpResponse:
    try:
        invitation = do_revoke_invitation(
            member=_member(request), invitation_id=invitation_id, ip_address=client_ip(request)
        )
    except ActionError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(
            request,
            _("The invitation you sent on a request is revoked; its link no longer works. "
              "The request waits for members again, unless it has expired.")
            if invitation.from_request
            else _("The invitation to %(phone)s is revoked; its link no longer works.")
            % {"phone": invitation.phone_masked},
        )
    return redirect("invitations")


def _join_form_page(request: HttpRequest, invitation: Invitation | None) -> HttpResponse:
    form = JoinForm(request.POST or None, initial={"language": get_language()})
    started = run_form_action(
        request,
        form,
        lambda data: do_start_join(
            invitation=invitation,
            phone=data["phone"],
            display_name=data["display_name"],
            password=data["password"],
            language=data["language"],
            ip_address=client_ip(request),
        ),
    )
    if started is not None:
        request.session[JOIN_SESSION_KEY] = started.verification.id
        request.session[JOIN_BY_LINK_SESSION_KEY] = invitation is not None
        request.session[JOIN_BY_FOUNDER_LINK_SESSION_KEY] = (
            invitation is not None and invitation.inviter_id is None
        )
        return redirect("join_confirm")
    return render_form_page(
        request, "invitations/join.html", {"invitation": invitation}, form=form
    )


def join_by_link_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = access_invitation_by_token(token)
    except ActionError as error:
        return render(
            request, "invitations/join_refused.html", {"reason": error.message, "link": True},
            status=error.status,
        )
    return _join_form_page(request, invitation)


def join_open_view(request: HttpRequest) -> HttpResponse:
    try:
        check_registration_open(None)
    except ActionError as error:
        return render(
            request, "invitations/join_refused.html", {"reason": error.message}, status=error.status
        )
    return _join_form_page(request, None)


def join_confirm_view(request: HttpRequest) -> HttpResponse:
    verification_id = request.session.get(JOIN_SESSION_KEY)
    if verification_id is None:
        return redirect("home")
    form = CodeForm(request.POST or None)
    logged_in: list[Member] = []

    def log_in(member: Member) -> None:
        # In the join's transaction, as the API's session is: the member and their
        # session commit together, and nobody can have banned the member in between.
        # The joining session held only the verification: a fresh one, stored with the
        # join's last writes (a stored one would be updated before it is there).
        request.session.flush()
        do_log_in(request, member=member, ip_address=client_ip(request), just_joined=True)
        logged_in.append(member)

    member = run_form_action(
        request,
        form,
        lambda data: do_confirm_join(
            verification_id=verification_id, code=data["code"], ip_address=client_ip(request),
            on_joined=log_in,
        ),
    )
    if member is None and logged_in:
        # Refused after it logged in (the invitation was used or revoked meanwhile): the
        # member and their session were undone with the join, so is this request's login.
        auth.logout(request)
    if member is not None:
        messages.success(request, _("Welcome, %(name)s!") % {"name": member.display_name})
        # The code proved the number: this browser's logins are throttled per token from
        # the start, as after a login (accounts/device_tokens.py).
        response = set_device_cookie(redirect("home"), issue_device_token(member))
        return set_language_cookie(response, member.language)
    return render_form_page(request, "invitations/join_confirm.html", {
        "by_link": request.session.get(JOIN_BY_LINK_SESSION_KEY, True),
        "by_founder_link": request.session.get(JOIN_BY_FOUNDER_LINK_SESSION_KEY, False),
    }, form=form)
