"""A logged-in member changes their password, on the page and through the API: the
current password first (a guess counted as a failed login), the site's password rules,
every other session ended, this one kept under a new key, a notice and an audit entry."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client, override_settings

from inviteonly.abuse.models import DeviceLoginThrottle, LoginThrottle
from inviteonly.accounts import actions as account_actions
from inviteonly.accounts.actions import authenticate_member, do_change_password
from inviteonly.accounts.models import Member, MemberSession
from inviteonly.accounts.sessions import SessionStore
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.actions import do_quarantine_member
from inviteonly.notifications.models import Notification, NotificationKind
from tests.conftest import PASSWORD, ApiClient, FrozenClock, make_member
from tests.test_pages import Elements, logged_in

pytestmark = pytest.mark.django_db

MEMBER = "+79165550001"
NEW_PASSWORD = "another long passphrase"


@pytest.fixture
def member() -> Member:
    return make_member(phone=MEMBER, display_name="Vera")


def password_is(member: Member, password: str) -> bool:
    member.refresh_from_db()
    return check_password(password, member.password)


def change_on_page(client: Client, current: str, new: str = NEW_PASSWORD) -> Any:
    return client.post("/profile/password/", {
        "current_password": current, "new_password": new,
    })


def logs_in(password: str) -> bool:
    try:
        authenticate_member(phone=MEMBER, password=password)
    except ActionError:
        return False
    return True


def test_the_page_changes_the_password_ends_the_other_sessions_and_keeps_this_one(
    member: Member,
) -> None:
    here = logged_in(MEMBER)
    elsewhere = logged_in(MEMBER)
    api = ApiClient()
    api.log_in(MEMBER)
    old_key = here.cookies["sessionid"].value
    assert MemberSession.objects.filter(member=member).count() == 3

    changed = change_on_page(here, PASSWORD)

    assert changed.status_code == 302 and changed["Location"] == "/profile/"
    new_key = here.cookies["sessionid"].value
    assert new_key != old_key
    page = here.get("/profile/").content.decode()
    assert "Your password has been changed. You stay logged in here" in page
    assert here.get("/invite/").status_code == 200
    # The old key of this session, the other browser and the API token: all ended.
    stale = Client()
    stale.cookies["sessionid"] = old_key
    assert stale.get("/invite/").status_code == 302
    assert elsewhere.get("/invite/").status_code == 302
    assert api.get("/me").status_code == 401
    assert MemberSession.objects.filter(member=member).count() == 1
    # The notice, the audit entry (with the address, never a password).
    notice = Notification.objects.get(member=member)
    assert notice.kind == NotificationKind.PASSWORD_CHANGED
    assert "you were logged out on your other devices" in here.get("/").content.decode()
    entry = AuditEntry.objects.get(action=AuditAction.PASSWORD_CHANGED)
    assert (entry.actor, entry.target_member, entry.ip_address) == (member, member, "127.0.0.1")
    assert entry.details == {"count": 2}
    assert NEW_PASSWORD not in str(entry.details) and PASSWORD not in str(entry.details)
    # The new password logs in, the old one does not.
    assert logs_in(NEW_PASSWORD)
    assert not logs_in(PASSWORD)


def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failed_login(
    member: Member, clock: FrozenClock
) -> None:
    here = logged_in(MEMBER)
    elsewhere = logged_in(MEMBER)
    key = here.cookies["sessionid"].value
    for _ in range(4):  # three free typos, the fourth sets a wait: as at the login form
        refused = change_on_page(here, "not the password")
        assert refused.status_code == 200
        errors = Elements(refused.content.decode())
        assert errors.text_of["id_current_password_error"] == "The current password is wrong."
    # The right password must now wait here. The count is this browser's device token's
    # (the page brings its cookie, as its login form does): a client without it is not
    # held up by it, as it would be by a stranger's failures.
    throttled = change_on_page(here, PASSWORD)
    assert throttled.status_code == 429 and throttled["Retry-After"] == "30"
    assert DeviceLoginThrottle.objects.get().consecutive_failures == 4
    assert not LoginThrottle.objects.exists()
    assert ApiClient().post("/session", {"phone": MEMBER, "password": PASSWORD}).status_code == 201
    assert password_is(member, PASSWORD)
    assert here.cookies["sessionid"].value == key
    assert elsewhere.get("/invite/").status_code == 200
    assert not Notification.objects.filter(member=member).exists()
    assert not AuditEntry.objects.filter(action=AuditAction.PASSWORD_CHANGED).exists()
    failed = AuditEntry.objects.filter(action=AuditAction.PASSWORD_CHANGE_FAILED)
    assert failed.count() == 4
    assert {(entry.actor, entry.ip_address) for entry in failed} == {(member, "127.0.0.1")}
    # Once the wait is over the right password works, and the count starts again.
    clock.advance(seconds=30)
    assert change_on_page(here, PASSWORD).status_code == 302
    assert not LoginThrottle.objects.exists() and not DeviceLoginThrottle.objects.exists()


@override_settings(RATE_LIMITS={"login": [("ip", 3, 600)]})
def test_password_changes_count_in_the_addresss_login_limit(member: Member) -> None:
    here = logged_in(MEMBER)  # the first login of the address
    other = make_member(display_name="Gleb")
    # Another member's guess from the same address counts in the same limit.
    with pytest.raises(ActionError):
        do_change_password(member=other, session=SessionStore(), current_password="guess",
                           new_password=NEW_PASSWORD, ip_address="127.0.0.1")
    assert change_on_page(here, "not the password").status_code == 200
    refused = change_on_page(here, PASSWORD)
    assert refused.status_code == 429
    assert "Too many attempts" in refused.content.decode()
    assert password_is(member, PASSWORD)


def test_a_weak_or_unchanged_new_password_is_refused_and_counts_nothing(member: Member) -> None:
    here = logged_in(MEMBER)
    weak = change_on_page(here, PASSWORD, "12345678")
    assert Elements(weak.content.decode()).text_of["id_new_password_error"].startswith(
        "This password is too common.")
    short = change_on_page(here, "not even checked", "short")
    assert "id_new_password_error" in Elements(short.content.decode()).text_of
    assert not LoginThrottle.objects.exists()  # no guess at the current password counted
    same = change_on_page(here, PASSWORD, PASSWORD)
    assert Elements(same.content.decode()).text_of["id_new_password_error"] == (
        "The new password is the same as the current one. Choose another.")
    assert password_is(member, PASSWORD)
    assert here.get("/invite/").status_code == 200
    assert not AuditEntry.objects.filter(action=AuditAction.PASSWORD_CHANGED).exists()


def test_the_page_in_russian_with_the_right_autocomplete_and_a_link_from_the_profile(
    member: Member,
) -> None:
    assert Client().get("/profile/password/")["Location"].startswith("/login/")
    here = logged_in(MEMBER)
    here.post("/language/", {"language": "ru", "next": "/"})
    profile = Elements(here.get("/profile/").content.decode())
    assert ("a", {"href": "/profile/password/", "data-testid": "change-password"}) in (
        profile.elements)
    page = here.get("/profile/password/").content.decode()
    assert "<h1>Сменить пароль</h1>" in page
    assert "Текущий пароль" in page
    inputs = {found["name"]: found for tag, found in Elements(page).elements if tag == "input"}
    assert inputs["current_password"]["autocomplete"] == "current-password"
    assert inputs["new_password"]["autocomplete"] == "new-password"
    assert inputs["current_password"]["type"] == inputs["new_password"]["type"] == "password"
    refused = Elements(change_on_page(here, "не тот пароль").content.decode())
    assert refused.text_of["id_current_password_error"] == "Текущий пароль неверен."
    changed = here.get(change_on_page(here, PASSWORD)["Location"]).content.decode()
    assert "Пароль изменён. Здесь вы остаётесь в аккаунте" in changed
    home = here.get("/").content.decode()
    assert "Ваш пароль изменён, и на других ваших устройствах выполнен выход." in home


def test_the_api_changes_the_password_and_hands_back_the_sessions_new_token(
    member: Member,
) -> None:
    api = ApiClient("ru")
    api.log_in(MEMBER)
    elsewhere = ApiClient()
    elsewhere.log_in(MEMBER)
    browser = logged_in(MEMBER)
    old_token = api.token

    assert ApiClient().post("/me/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD}).status_code == 401
    wrong = api.post("/me/password", {
        "current_password": "not the password", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 400
    assert wrong.json_body == {"code": "current_password_wrong",
                               "detail": "Текущий пароль неверен.",
                               "field": "current_password"}
    weak = api.post("/me/password", {"current_password": PASSWORD, "new_password": "12345678"})
    assert (weak.status_code, weak.json_body["code"], weak.json_body["field"]) == (
        400, "password_weak", "new_password")
    assert password_is(member, PASSWORD)
    assert api.get("/me").status_code == 200

    changed = api.post("/me/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert changed.status_code == 200
    assert changed.json_body["detail"] == "Пароль изменён. Остальные ваши сеансы завершены."
    new_token = changed.json_body["session_token"]
    assert new_token != old_token
    assert api.get("/me").status_code == 401  # the old token is gone…
    api.token = new_token
    assert api.get("/me").json_body["id"] == member.id  # …the new one works
    assert elsewhere.get("/me").status_code == 401
    assert browser.get("/invite/").status_code == 302
    assert MemberSession.objects.filter(member=member).count() == 1
    assert AuditEntry.objects.filter(action=AuditAction.PASSWORD_CHANGED).count() == 1
    notices = api.get("/me/notifications").json_body["items"]
    assert [notice["kind"] for notice in notices] == ["password_changed"]
    assert ApiClient().post("/session", {
        "phone": MEMBER, "password": NEW_PASSWORD}).status_code == 201
    assert ApiClient().post("/session", {
        "phone": MEMBER, "password": PASSWORD}).status_code == 401


def test_a_quarantined_member_may_change_the_password(founder: Member, member: Member) -> None:
    here = logged_in(MEMBER)
    do_quarantine_member(moderator=founder, member=member, reason="Looks like spam")
    assert change_on_page(here, PASSWORD).status_code == 302
    assert password_is(member, NEW_PASSWORD)


def test_a_member_banned_while_the_password_is_checked_is_refused(member: Member) -> None:
    """Banned members have no session to change it from; one banned between the check of
    the current password and the change (the member's row lock) is refused too."""
    api = ApiClient()
    api.log_in(MEMBER)
    session = SessionStore(session_key=api.token)
    session.load()
    real_check = account_actions.check_password

    def banned_meanwhile(password: str, encoded: str) -> bool:
        Member.objects.filter(id=member.id).update(status=Member.Status.BANNED)
        return real_check(password, encoded)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(account_actions, "check_password", banned_meanwhile)
        with pytest.raises(ActionError) as refused:
            do_change_password(member=member, session=session, current_password=PASSWORD,
                               new_password=NEW_PASSWORD)
    assert (refused.value.code, refused.value.status) == ("account_restricted", 403)
    assert password_is(member, PASSWORD)
    assert not Notification.objects.exists()


def test_a_password_recovered_while_the_old_one_is_checked_is_not_overwritten(
    member: Member,
) -> None:
    """Someone holding a session and the old password races the member's recovery: the
    recovery's password stands."""
    api = ApiClient()
    api.log_in(MEMBER)
    session = SessionStore(session_key=api.token)
    session.load()
    real_check = account_actions.check_password

    def recovered_meanwhile(password: str, encoded: str) -> bool:
        recovered = Member.objects.get(id=member.id)
        recovered.set_password("the recovered passphrase")
        recovered.save(update_fields=["password"])
        return real_check(password, encoded)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(account_actions, "check_password", recovered_meanwhile)
        with pytest.raises(ActionError) as refused:
            do_change_password(member=member, session=session, current_password=PASSWORD,
                               new_password=NEW_PASSWORD)
    assert refused.value.code == "current_password_wrong"
    assert password_is(member, "the recovered passphrase")
