"""URL map: pages, the JSON API, the SMS gateways' delivery reports, the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, re_path, register_converter

from inviteonly import error_views
from inviteonly.accounts import views as account_views
from inviteonly.api import api
from inviteonly.invitation_requests import views as request_views
from inviteonly.invitations import tree_views
from inviteonly.invitations import views as invitation_views
from inviteonly.lib.converters import IdConverter
from inviteonly.moderation import views as moderation_views
from inviteonly.sms import views as sms_views
from inviteonly.social import views as social_views

# <id:…>: an id a database integer holds, bounded like the API's, or a 404.
register_converter(IdConverter, "id")

urlpatterns = [
    # First: the JSON API takes most requests, and Django tries the patterns in order.
    path("api/", api.urls),
    path("", account_views.home, name="home"),
    path("login/", account_views.login_view, name="login"),
    path("logout/", account_views.logout_view, name="logout"),
    path("recover/", account_views.recover_view, name="recover"),
    path("recover/confirm/", account_views.recover_confirm_view, name="recover_confirm"),
    path("phone/", account_views.phone_change_view, name="phone_change"),
    path("phone/confirm/", account_views.phone_change_confirm_view, name="phone_change_confirm"),
    path("language/", account_views.set_language_view, name="set_language"),
    path("notifications/read/", account_views.notifications_read_view, name="notifications_read"),
    path("invite/", invitation_views.invite_view, name="invite"),
    path("invitations/", invitation_views.invitations_view, name="invitations"),
    path(
        "invitations/<id:invitation_id>/revoke/",
        invitation_views.revoke_invitation_view,
        name="revoke_invitation",
    ),
    path("j/<str:token>", invitation_views.join_by_link_view, name="join_by_link"),
    path("join/", invitation_views.join_open_view, name="join_open"),
    path("join/confirm/", invitation_views.join_confirm_view, name="join_confirm"),
    path("ask/", request_views.ask_view, name="ask_for_invitation"),
    path("ask/<str:token>", request_views.status_view, name="invitation_request_status"),
    path("ask/<str:token>/withdraw", request_views.withdraw_view,
         name="withdraw_invitation_request"),
    path("requests/", request_views.open_requests_view, name="invitation_requests"),
    path("requests/<id:request_id>/vouch", request_views.vouch_view, name="vouch_for_request"),
    path("requests/<id:request_id>/grant", request_views.grant_view, name="grant_request"),
    path("moderation/", moderation_views.open_cases_view, name="moderation"),
    path("moderation/reports/", moderation_views.report_queue_view, name="moderation_reports"),
    path(
        "moderation/reports/<str:target_kind>/<id:target_id>/resolve",
        moderation_views.resolve_reports_view,
        name="moderation_resolve_reports",
    ),
    path("report/<str:target_kind>/<id:target_id>/", moderation_views.report_view,
         name="report"),
    path(
        "moderation/members/<id:member_id>/",
        moderation_views.member_view,
        name="moderation_member",
    ),
    path(
        "moderation/sanctions/<id:sanction_id>/end/",
        moderation_views.end_sanction_view,
        name="moderation_end_sanction",
    ),
    path(
        "moderation/grants/<id:grant_id>/withdraw/",
        moderation_views.withdraw_grant_view,
        name="moderation_withdraw_grant",
    ),
    path("tree/", tree_views.my_tree_view, name="my_tree"),
    path(
        "tree/visibility/",
        tree_views.public_tree_visibility_view,
        name="public_tree_visibility",
    ),
    path("tree/public/", tree_views.public_tree_view, name="public_tree"),
    path("tree/public/<id:member_id>/", tree_views.public_tree_view, name="public_tree_member"),
    path("moderation/tree/", tree_views.branch_browser_view, name="branch_browser"),
    path(
        "moderation/tree/<id:member_id>/",
        tree_views.branch_browser_view,
        name="branch_browser_member",
    ),
    path(
        "sms/kannel/<id:message_id>/<str:token>/",
        sms_views.kannel_delivery_report,
        name="kannel_delivery_report",
    ),
    path(
        "sms/twilio/<id:message_id>/<str:token>/",
        sms_views.twilio_status_callback,
        name="twilio_status_callback",
    ),
    path("members/<id:member_id>/", social_views.profile_view, name="member_profile"),
    path("members/<id:member_id>/post", social_views.post_view, name="post_on_wall"),
    path("members/<id:member_id>/friends/", social_views.member_friends_view,
         name="member_friends"),
    path("members/<id:member_id>/befriend", social_views.send_friend_request_view,
         name="send_friend_request"),
    path("members/<id:member_id>/accept", social_views.accept_friend_request_view,
         name="accept_friend_request"),
    path("members/<id:member_id>/decline", social_views.decline_friend_request_view,
         name="decline_friend_request"),
    path("members/<id:member_id>/cancel", social_views.cancel_friend_request_view,
         name="cancel_friend_request"),
    path("members/<id:member_id>/unfriend", social_views.remove_friend_view,
         name="remove_friend"),
    path("members/<id:member_id>/block", social_views.block_view, name="block_member"),
    path("members/<id:member_id>/unblock", social_views.unblock_view, name="unblock_member"),
    path("posts/<id:post_id>/delete", social_views.delete_post_view, name="delete_post"),
    path("profile/", social_views.edit_profile_view, name="edit_profile"),
    path("profile/avatar", social_views.avatar_upload_view, name="upload_avatar"),
    path("profile/time-zone/", account_views.time_zone_view, name="set_time_zone"),
    path("profile/password/", account_views.change_password_view, name="change_password"),
    path("profile/sessions/", account_views.sessions_view, name="sessions"),
    path("profile/leave/", account_views.leave_view, name="leave_network"),
    path("profile/sessions/end-others", account_views.end_other_sessions_view,
         name="end_other_sessions"),
    # A session's shown id (accounts.sessions.session_public_id): 16 hex digits.
    re_path(r"^profile/sessions/(?P<session_id>[0-9a-f]{16})/end$",
            account_views.end_session_view, name="end_session"),
    path("friends/", social_views.friends_view, name="friends"),
    path("messages/", social_views.inbox_view, name="inbox"),
    path("messages/<id:member_id>/", social_views.conversation_view, name="conversation"),
    path("messages/<id:member_id>/read", social_views.mark_read_view,
         name="mark_conversation_read"),
    path("media/avatars/<str:name>", social_views.avatar_view, name="avatar"),
    path("admin/login/", account_views.admin_login_redirect),
    path("admin/password_change/", account_views.admin_password_change_redirect),
    path("admin/password_change/done/", account_views.admin_password_change_redirect),
    path("admin/", admin.site.urls),
]

# Django's error views, with DEBUG off: translated pages, and the API's JSON under /api/.
handler400 = error_views.bad_request_view
handler403 = error_views.permission_denied_view
handler404 = error_views.page_not_found_view
handler500 = error_views.server_error_view
