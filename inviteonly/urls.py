"""URL map: pages, the JSON API, the SMS gateways' delivery reports, the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from inviteonly.accounts import views as account_views
from inviteonly.api import api
from inviteonly.invitations import views as invitation_views
from inviteonly.sms import views as sms_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("login/", account_views.login_view, name="login"),
    path("logout/", account_views.logout_view, name="logout"),
    path("recover/", account_views.recover_view, name="recover"),
    path("recover/confirm/", account_views.recover_confirm_view, name="recover_confirm"),
    path("language/", account_views.set_language_view, name="set_language"),
    path("notifications/read/", account_views.notifications_read_view, name="notifications_read"),
    path("invite/", invitation_views.invite_view, name="invite"),
    path("invitations/", invitation_views.invitations_view, name="invitations"),
    path("j/<str:token>", invitation_views.join_by_link_view, name="join_by_link"),
    path("join/", invitation_views.join_open_view, name="join_open"),
    path("join/confirm/", invitation_views.join_confirm_view, name="join_confirm"),
    path(
        "sms/kannel/<int:message_id>/<str:token>/",
        sms_views.kannel_delivery_report,
        name="kannel_delivery_report",
    ),
    path(
        "sms/twilio/<int:message_id>/<str:token>/",
        sms_views.twilio_status_callback,
        name="twilio_status_callback",
    ),
    path("api/", api.urls),
    path("admin/login/", account_views.admin_login_redirect),
    path("admin/", admin.site.urls),
]
