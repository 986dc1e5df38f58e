"""Pages: home, login, logout, recovery, changing the password, the member's sessions,
moving to a new number, the language switch, the member's time zone."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from inviteonly.accounts.actions import (
    Authenticated,
    authenticate_member,
    do_change_password,
    do_confirm_phone_change,
    do_confirm_recovery,
    do_end_other_sessions,
    do_end_session,
    do_leave_network,
    do_log_in,
    do_log_out,
    do_set_language,
    do_set_time_zone,
    do_start_phone_change,
    do_start_recovery,
)
from inviteonly.accounts.device_tokens import issue_device_token
from inviteonly.accounts.forms import (
    ChangePasswordForm,
    CodeForm,
    LeaveForm,
    LoginForm,
    PhoneChangeForm,
    RecoverConfirmForm,
    RecoverForm,
)
from inviteonly.accounts.models import Member
from inviteonly.accounts.queries import other_sessions_ended_text, sessions_of
from inviteonly.invitations.queries import invitations_sent_by
from inviteonly.invitations.rights import can_invite
from inviteonly.lib.errors import ActionError
from inviteonly.lib.web import client_ip, render_form_page, row_id, run_form_action, safe_next
from inviteonly.notifications.actions import do_mark_notifications_read, do_show_notifications

RECOVERY_SESSION_KEY = "recovery_verification_id"
PHONE_CHANGE_SESSION_KEY = "phone_change_verification_id"


def set_language_cookie(response: HttpResponse, language: str) -> HttpResponse:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


def set_device_cookie(response: HttpResponse, device_token: str) -> HttpResponse:
    """The device token of a login, a join or a recovery (accounts/device_tokens.py):
    this browser's next logins with the number are throttled per token, not by the
    number's count."""
    response.set_cookie(
        settings.LOGIN_DEVICE_COOKIE_NAME,
        device_token,
        max_age=int(settings.LOGIN_DEVICE_TOKEN_LIFETIME.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


def device_token_of(request: HttpRequest) -> str | None:
    return request.COOKIES.get(settings.LOGIN_DEVICE_COOKIE_NAME)


def home(request: HttpRequest) -> HttpResponse:
    member = request.user
    if not isinstance(member, Member):
        return render(request, "accounts/welcome.html")
    notifications, next_before = do_show_notifications(
        member=member, before_id=row_id(request.GET.get("before")),
        limit=settings.SOCIAL_PAGE_SIZE,
    )
    return render(
        request,
        "accounts/home.html",
        {
            "member": member,
            "notifications": notifications,
            "next_before": next_before,
            "can_invite": can_invite(member),
            "invitations_count": invitations_sent_by(member).count(),
        },
    )


def _safe_next(request: HttpRequest) -> str:
    return safe_next(request) or "/"


def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)

    def log_in(data: dict[str, Any]) -> Authenticated:
        authenticated = authenticate_member(
            phone=data["phone"], password=data["password"], ip_address=client_ip(request),
            device_token=device_token_of(request),
        )
        do_log_in(request, member=authenticated.member, ip_address=client_ip(request))
        return authenticated

    authenticated = run_form_action(request, form, log_in)
    if authenticated is not None:
        response = HttpResponseRedirect(_safe_next(request))
        set_device_cookie(response, authenticated.device_token)
        return set_language_cookie(response, authenticated.member.language)
    return render_form_page(
        request, "accounts/login.html", {"next": _safe_next(request)}, form=form
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    do_log_out(request, ip_address=client_ip(request))
    messages.info(request, _("You have logged out."))
    return redirect("login")


def recover_view(request: HttpRequest) -> HttpResponse:
    form = RecoverForm(request.POST or None)
    started = run_form_action(
        request,
        form,
        lambda data: do_start_recovery(phone=data["phone"], ip_address=client_ip(request)),
    )
    if started is not None:
        request.session[RECOVERY_SESSION_KEY] = started.verification.id
        return redirect("recover_confirm")
    return render_form_page(request, "accounts/recover.html", {}, form=form)


def recover_confirm_view(request: HttpRequest) -> HttpResponse:
    verification_id = request.session.get(RECOVERY_SESSION_KEY)
    if verification_id is None:
        return redirect("recover")
    form = RecoverConfirmForm(request.POST or None)
    member = run_form_action(
        request,
        form,
        lambda data: do_confirm_recovery(
            verification_id=verification_id,
            code=data["code"],
            new_password=data["new_password"],
            ip_address=client_ip(request),
        ),
    )
    if member is not None:
        if isinstance(request.user, Member) and request.user.pk == member.pk:
            # The action ended every session of the member, this one too (a member
            # logged in here who forgot the password): its cookie goes as well, rather
            # than the session being stored again after its row is gone (a 400).
            auth.logout(request)
        else:
            request.session.pop(RECOVERY_SESSION_KEY, None)
        messages.success(
            request, _("Your password has been changed. Log in with the new password.")
        )
        # No login, but the code proved the number: the login this browser makes next
        # is throttled per token, so a stranger failing with the number meanwhile
        # cannot lock it out. Only a success hands one out, and a number without an
        # account never succeeds: its answers stay those of a registered number.
        return set_device_cookie(redirect("login"), issue_device_token(member))
    return render_form_page(request, "accounts/recover_confirm.html", {}, form=form)


@login_required
def change_password_view(request: HttpRequest) -> HttpResponse:
    member = signed_in_member(request)
    form = ChangePasswordForm(request.POST or None)
    ended = run_form_action(
        request,
        form,
        lambda data: do_change_password(
            member=member,
            session=request.session,
            current_password=data["current_password"],
            new_password=data["new_password"],
            ip_address=client_ip(request),
            device_token=device_token_of(request),
        ),
    )
    if ended is not None:
        messages.success(
            request,
            _("Your password has been changed. You stay logged in here; on your other "
              "devices you were logged out."),
        )
        # The new password ended every device token: this browser, which typed the
        # current one, gets a new one.
        return set_device_cookie(redirect("edit_profile"), issue_device_token(member))
    return render_form_page(request, "accounts/change_password.html", {}, form=form)


@login_required
def leave_view(request: HttpRequest) -> HttpResponse:
    """Leave the network: the password and a tick (accounts.actions.do_leave_network)."""
    member = signed_in_member(request)
    form = LeaveForm(request.POST or None)
    left = run_form_action(
        request,
        form,
        lambda data: do_leave_network(
            member=member, password=data["password"], confirmed=data["confirm"],
            ip_address=client_ip(request), device_token=device_token_of(request),
        ),
    )
    if left is not None:
        # The action ended every session, this one too: its cookie goes as well.
        auth.logout(request)
        messages.success(request, _("You have left the network. Goodbye."))
        return redirect("login")
    return render_form_page(
        request, "accounts/leave.html", {"hold_days": settings.LEFT_NUMBER_HOLD_DAYS}, form=form
    )


@login_required
def sessions_view(request: HttpRequest) -> HttpResponse:
    member = signed_in_member(request)
    return render(request, "accounts/sessions.html", {
        "sessions": sessions_of(member, session=request.session),
        "last_seen_minutes": int(settings.SESSION_LAST_SEEN_INTERVAL.total_seconds() // 60),
    })


@require_POST
@login_required
def end_other_sessions_view(request: HttpRequest) -> HttpResponse:
    ended = do_end_other_sessions(
        member=signed_in_member(request), session=request.session,
        ip_address=client_ip(request),
    )
    messages.success(request, other_sessions_ended_text(ended))
    return redirect("sessions")


@require_POST
@login_required
def end_session_view(request: HttpRequest, session_id: str) -> HttpResponse:
    try:
        do_end_session(
            member=signed_in_member(request), session=request.session, session_id=session_id,
            ip_address=client_ip(request),
        )
    except ActionError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("The session has ended: it is logged out."))
    return redirect("sessions")


@login_required
def phone_change_view(request: HttpRequest) -> HttpResponse:
    member = signed_in_member(request)
    form = PhoneChangeForm(request.POST or None)
    started = run_form_action(
        request,
        form,
        lambda data: do_start_phone_change(
            member=member, password=data["password"], phone=data["phone"],
            ip_address=client_ip(request), device_token=device_token_of(request),
        ),
    )
    if started is not None:
        request.session[PHONE_CHANGE_SESSION_KEY] = started.verification.id
        return redirect("phone_change_confirm")
    return render_form_page(request, "accounts/phone_change.html", {"member": member}, form=form)


@login_required
def phone_change_confirm_view(request: HttpRequest) -> HttpResponse:
    verification_id = request.session.get(PHONE_CHANGE_SESSION_KEY)
    if verification_id is None:
        return redirect("phone_change")
    form = CodeForm(request.POST or None)
    member = run_form_action(
        request,
        form,
        lambda data: do_confirm_phone_change(
            member=signed_in_member(request),
            verification_id=verification_id,
            code=data["code"],
            keep_session_key=request.session.session_key,
            ip_address=client_ip(request),
        ),
    )
    if member is not None:
        request.session.pop(PHONE_CHANGE_SESSION_KEY, None)
        messages.success(
            request,
            _("Your account now uses the number %(number)s. You were logged out everywhere "
              "else.") % {"number": member.phone_masked},
        )
        return redirect("home")
    return render_form_page(request, "accounts/phone_change_confirm.html", {}, form=form)


@require_POST
def set_language_view(request: HttpRequest) -> HttpResponse:
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        # The switch's buttons send only the listed codes, so another one comes from a
        # page older than the list or from a hand-made request: back to that page in
        # the language the person reads, rather than an error page or a language they
        # did not choose.
        return HttpResponseRedirect(_safe_next(request))
    if isinstance(request.user, Member):
        do_set_language(member=request.user, language=language)
    return set_language_cookie(HttpResponseRedirect(_safe_next(request)), language)


@require_POST
@login_required
def time_zone_view(request: HttpRequest) -> HttpResponse:
    """The profile page's time zone form: back to that page, saved or refused."""
    try:
        do_set_time_zone(
            member=signed_in_member(request), time_zone=request.POST.get("time_zone", "")
        )
    except ActionError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("Your time zone was saved."))
    return redirect("edit_profile")


def signed_in_member(request: HttpRequest) -> Member:
    """The member a ``login_required`` view serves."""
    assert isinstance(request.user, Member)
    return request.user


@require_POST
@login_required
def notifications_read_view(request: HttpRequest) -> HttpResponse:
    # The newest notification the page showed (its form always sends it): one that came
    # since stays unread. Without it (a forged form) nothing is marked: "all" would
    # take in what came after the page.
    up_to = row_id(request.POST.get("up_to"))
    if up_to is not None:
        do_mark_notifications_read(member=signed_in_member(request), up_to=up_to)
    return redirect("home")


def admin_login_redirect(request: HttpRequest) -> HttpResponse:
    """The admin has no login form of its own: members log in by phone here."""
    query = urlencode({"next": request.GET.get("next", "/admin/")})
    return redirect(f"{reverse('login')}?{query}")


def admin_password_change_redirect(request: HttpRequest) -> HttpResponse:
    """Nor a password change of its own, which would skip the site's password rules, its
    audit entry, its notice and its count of guesses: the member's page does it."""
    return redirect("change_password")

