"""Sessions: keys stored only as digests beside their member, cycled at login, ended
by a password change, found with their member in one query, swept once expired."""

from __future__ import annotations

import json
from datetime import timedelta
from importlib import import_module
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, make_password
from django.contrib.auth.signals import user_logged_in
from django.core.management import call_command
from django.db import connection
from django.dispatch.dispatcher import NONE_ID
from django.test import Client, RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inviteonly.accounts.models import Member, MemberSession
from inviteonly.accounts.sessions import SessionStore, stored_session_key
from inviteonly.api.auth import session_bearer
from inviteonly.moderation.actions import do_ban_member, do_lift_sanction
from inviteonly.moderation.models import Sanction
from tests.conftest import PASSWORD, ApiClient, FrozenClock, SmsOutbox, make_member

pytestmark = pytest.mark.django_db


def test_session_key_is_stored_only_as_a_digest_beside_its_member(founder: Member) -> None:
    client = Client()
    client.post("/login/", {"phone": "+79160000001", "password": PASSWORD})
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert not MemberSession.objects.filter(session_key=key).exists()
    stored = MemberSession.objects.get(session_key=stored_session_key(key))
    assert stored.member_id == founder.id
    assert SessionStore(session_key=key).load()  # and it still loads by the real key


def test_login_cycles_a_planted_session_key(founder: Member) -> None:
    client = Client()
    client.post("/recover/", {"phone": "+79169999999"})  # an anonymous session with a key
    planted = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert MemberSession.objects.get(session_key=stored_session_key(planted)).member is None
    client.post("/login/", {"phone": "+79160000001", "password": PASSWORD})
    fresh = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert fresh != planted
    assert SessionStore(session_key=planted).load() == {}


def test_a_login_on_the_web_or_the_api_records_its_time(
    founder: Member, clock: FrozenClock
) -> None:
    assert founder.last_login is None
    web_login = clock.advance(minutes=5)
    Client().post("/login/", {"phone": "+79160000001", "password": PASSWORD})
    assert Member.objects.get(pk=founder.pk).last_login == web_login
    api_login = clock.advance(minutes=5)
    ApiClient().log_in("+79160000001")
    assert Member.objects.get(pk=founder.pk).last_login == api_login
    # By our receiver alone (accounts/apps.py), not Django's save() of the member too.
    assert [key for key, *_ in user_logged_in.receivers] == [("record_last_login", NONE_ID)]


def test_logout_deletes_the_stored_session(founder: Member) -> None:
    client = Client()
    client.post("/login/", {"phone": "+79160000001", "password": PASSWORD})
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post("/logout/")
    assert not MemberSession.objects.filter(session_key=stored_session_key(key)).exists()


def test_password_change_ends_other_sessions(founder: Member) -> None:
    client = Client()
    client.post("/login/", {"phone": "+79160000001", "password": PASSWORD})
    api = ApiClient()
    api.log_in("+79160000001")
    assert client.get("/invite/").status_code == 200
    assert api.get("/me").status_code == 200
    founder.set_password("another long passphrase")
    founder.save(update_fields=["password"])
    assert client.get("/invite/").status_code == 302
    assert api.get("/me").status_code == 401


def bearer(token: str) -> Member | None:
    request = RequestFactory().get("/api/me", headers={"Authorization": f"Bearer {token}"})
    return session_bearer(request)


def test_a_bearer_token_finds_its_session_and_member_in_one_query(founder: Member) -> None:
    api = ApiClient()
    api.log_in("+79160000001")
    assert api.token is not None
    with CaptureQueriesContext(connection) as captured:
        assert bearer(api.token) == founder
    assert len(captured.captured_queries) == 1
    with CaptureQueriesContext(connection) as captured:
        assert bearer("not-a-session-key") is None
    assert len(captured.captured_queries) == 1


def test_a_bearer_token_of_a_banned_member_or_an_expired_session_is_refused(
    founder: Member,
) -> None:
    api = ApiClient()
    api.log_in("+79160000001")
    assert api.token is not None
    founder.status = Member.Status.BANNED
    founder.save(update_fields=["status"])
    assert bearer(api.token) is None
    founder.status = Member.Status.ACTIVE
    founder.save(update_fields=["status"])
    assert bearer(api.token) == founder
    MemberSession.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert bearer(api.token) is None


def test_a_session_signed_with_a_retired_secret_key_keeps_working_under_its_key(
    founder: Member,
) -> None:
    api, other = ApiClient(), ApiClient()
    api.log_in("+79160000001")
    other.log_in("+79160000001")
    assert api.token is not None and other.token is not None
    old_key, new_key = settings.SECRET_KEY, "a-new-secret-key-" * 4
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[old_key]):
        # Re-signed in place: the same token works again, and after the fallback goes.
        assert bearer(api.token) == founder
        assert bearer(api.token) == founder
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[]):
        assert bearer(api.token) == founder
        # A session never re-signed under the new key does not verify without it.
        assert bearer(other.token) is None
    assert MemberSession.objects.count() == 2  # no session was cycled away


def test_sweep_deletes_expired_sessions_only(founder: Member) -> None:
    for _ in range(2):
        ApiClient().log_in("+79160000001")
    MemberSession.objects.filter(
        pk=MemberSession.objects.order_by("pk").values("pk")[:1]
    ).update(expire_date=timezone.now() - timedelta(seconds=1))
    output = StringIO()
    call_command("sweep", stdout=output)
    assert ", 1 expired sessions," in output.getvalue()
    assert MemberSession.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_upgrading_moves_django_sessions_with_their_member_and_drops_the_old_table(
    founder: Member,
) -> None:
    move = import_module("inviteonly.accounts.migrations.0005_move_django_sessions")
    logged_in = {SESSION_KEY: str(founder.pk),
                 BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
                 HASH_SESSION_KEY: founder.get_session_auth_hash()}
    expires = timezone.now() + timedelta(days=1)
    expire_type = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE django_session (session_key varchar(40) PRIMARY KEY, "
                       f"session_data text NOT NULL, expire_date {expire_type} NOT NULL)")
        for key, data in (("a" * 40, logged_in), ("b" * 40, {})):
            cursor.execute("INSERT INTO django_session VALUES (%s, %s, %s)",
                           [key, SessionStore().encode(data), expires])
    with connection.schema_editor() as editor:
        move.move_sessions(apps, editor)
    assert "django_session" not in connection.introspection.table_names()
    moved = {row.session_key: row for row in MemberSession.objects.all()}
    assert moved["a" * 40].member_id == founder.id and moved["b" * 40].member_id is None
    assert moved["a" * 40].expire_date == expires
    with connection.schema_editor() as editor:
        move.move_sessions(apps, editor)  # twice: nothing left to move, nothing fails


def test_a_ban_ends_every_session_and_lifting_it_revives_none(founder: Member) -> None:
    member = make_member(phone="+79161234567", display_name="Boris")
    api = ApiClient()
    api.log_in("+79161234567")
    assert api.token is not None
    page = Client()
    page.force_login(member)
    assert page.get("/invitations/").status_code == 200
    ban = do_ban_member(member=member, moderator=founder, reason="Hijacked, spamming")
    assert not MemberSession.objects.filter(member=member).exists()
    do_lift_sanction(sanction_id=ban.id, moderator=founder, reason="Owner got it back")
    assert Member.objects.get(pk=member.pk).is_active
    # Whoever held the cookie or the token during the ban has to log in again.
    assert bearer(api.token) is None
    assert api.get("/me").status_code == 401
    assert page.get("/invitations/").status_code == 302


def assert_login_refused(through: str, *, api: ApiClient, page: Client) -> None:
    """Boris's login with his password, through the API or the login page, is refused
    as a wrong password is."""
    if through == "api":
        response = api.post("/session", {"phone": "+79161234567", "password": PASSWORD})
        assert response.status_code == 401, response.json_body
        assert response.json_body["code"] == "login_failed"
    else:
        response = page.post("/login/", {"phone": "+79161234567", "password": PASSWORD})
        assert response.status_code == 200
        assert "The phone number or the password is wrong." in response.content.decode()


@pytest.mark.parametrize("through", ["api", "web"])
def test_a_member_banned_while_their_password_is_checked_is_refused_the_session(
    founder: Member, through: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password hash takes a fifth of a second after the member is read: a ban
    that commits meanwhile has already ended the member's sessions, so the login must
    not store one after it (lifting the ban would bring it back)."""
    member = make_member(phone="+79161234567", display_name="Boris")
    bans: list[Sanction] = []
    check_password = Member.check_password

    def check_then_ban(self: Member, raw_password: str) -> bool:
        checked = check_password(self, raw_password)
        if not bans:
            bans.append(do_ban_member(member=member, moderator=founder, reason="Spamming"))
        return checked

    monkeypatch.setattr(Member, "check_password", check_then_ban)
    api, page = ApiClient(), Client()
    assert_login_refused(through, api=api, page=page)
    assert bans and not MemberSession.objects.filter(member=member).exists()
    do_lift_sanction(sanction_id=bans[0].id, moderator=founder, reason="Owner got it back")
    assert page.get("/invitations/").status_code == 302


@pytest.mark.parametrize("through", ["api", "web"])
def test_a_password_recovered_while_an_old_hash_is_checked_at_login_stands(
    through: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hash of an older hasher is stored anew, upgraded, when its password logs in.
    Someone logging in with the old password while the member recovers (that is why
    they recover) must neither write the old password back over the recovered one nor
    get a session."""
    member = make_member(phone="+79161234567", display_name="Boris")
    Member.objects.filter(id=member.id).update(
        password=make_password(PASSWORD, hasher="pbkdf2_sha256")
    )
    verify = PBKDF2PasswordHasher.verify
    recovered: list[bool] = []

    def recovered_meanwhile(self: PBKDF2PasswordHasher, password: str, encoded: str) -> bool:
        if not recovered:
            recovered.append(True)
            Member.objects.filter(id=member.id).update(
                password=make_password("the recovered passphrase")
            )
        return verify(self, password, encoded)

    monkeypatch.setattr(PBKDF2PasswordHasher, "verify", recovered_meanwhile)
    api, page = ApiClient(), Client()
    assert_login_refused(through, api=api, page=page)
    assert recovered
    stored = Member.objects.get(id=member.id).password
    assert check_password("the recovered passphrase", stored)
    assert not MemberSession.objects.filter(member=member).exists()


@pytest.mark.parametrize(
    "regions", [{"PHONE_DENIED_REGIONS": ["US"]}, {"PHONE_ALLOWED_REGIONS": ["RU"]}]
)
def test_a_member_whose_country_is_no_longer_served_still_logs_in(
    regions: dict[str, list[str]],
) -> None:
    """The region lists decide who is invited, joins and gets codes (SMS pumping); a
    login sends no SMS. Recovery does, so it is refused with the reason."""
    make_member(phone="+14155552671")
    with override_settings(**regions):
        api = ApiClient().post("/session", {"phone": "+1 415 555 2671", "password": PASSWORD})
        page = Client().post("/login/", {"phone": "+14155552671", "password": PASSWORD})
        recovery = ApiClient().post("/recovery", {"phone": "+14155552671"})
    assert api.status_code == 201, api.json_body
    assert page.status_code == 302 and page["Location"] == "/"
    assert recovery.status_code == 400
    assert recovery.json_body["code"] == "phone_region_refused"


def _session_writes(captured: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"] for query in captured.captured_queries
        if '"accounts_member_session"' in query["sql"]
        and query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "WITH"))
    ]


def test_a_web_login_stores_its_session_once(founder: Member) -> None:
    """do_log_in stores it under the member's lock; the middleware, which sets the
    cookie, finds it stored as it is and writes nothing."""
    page = Client()
    with CaptureQueriesContext(connection) as captured:
        response = page.post("/login/?next=/invitations/",
                             {"phone": "+79160000001", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/invitations/"
    assert "sessionid" in response.cookies
    assert MemberSession.objects.filter(member=founder).count() == 1
    assert len(_session_writes(captured)) == 1, _session_writes(captured)


def test_the_web_join_logs_in_with_the_join_and_a_ban_just_after_ends_it(
    founder: Member, sms_outbox: SmsOutbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's join starts its session in the join's transaction, as the API's does:
    no lock on the new member, one write of the session; a ban that commits right after
    the join ends it, and the page still answers."""
    from inviteonly.invitations import views
    from inviteonly.invitations.actions import do_invite_by_phone

    number = "+79161239999"
    do_invite_by_phone(inviter=founder, phone=number)
    newcomer = Client()
    started = newcomer.post(f"/j/{sms_outbox.join_token_for(number)}", {
        "phone": number, "display_name": "Boris", "password": PASSWORD, "language": "en",
    })
    assert started.status_code == 302, started.content
    with CaptureQueriesContext(connection) as captured:
        confirmed = newcomer.post("/join/confirm/", {"code": sms_outbox.code_for(number)})
    assert confirmed.status_code == 302 and confirmed["Location"] == "/"
    assert not [query for query in captured.captured_queries
                if "FOR NO KEY UPDATE" in query["sql"].upper()]
    assert len(_session_writes(captured)) == 1, _session_writes(captured)
    boris = Member.objects.get(display_name="Boris")
    assert newcomer.get("/").context["user"] == boris

    confirm = views.do_confirm_join

    def confirm_then_ban(**kwargs: Any) -> Member:
        member = confirm(**kwargs)
        do_ban_member(member=member, moderator=founder, reason="Spam from the first minute")
        return member

    monkeypatch.setattr(views, "do_confirm_join", confirm_then_ban)
    second = "+79161239998"
    do_invite_by_phone(inviter=founder, phone=second)
    banned = Client()
    banned.post(f"/j/{sms_outbox.join_token_for(second)}", {
        "phone": second, "display_name": "Spammer", "password": PASSWORD, "language": "en",
    })
    answer = banned.post("/join/confirm/", {"code": sms_outbox.code_for(second)})
    assert answer.status_code == 302
    assert not MemberSession.objects.filter(member__display_name="Spammer").exists()


def test_the_api_takes_no_session_cookie_and_needs_no_csrf_token_with_a_bearer(
    founder: Member,
) -> None:
    """A page's session cookie, which a browser sends along with any site's request,
    authenticates no API request, so a forged cross-site write finds no member; a
    bearer token does, with no CSRF token. The pages' own writes need one."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(founder, backend=settings.AUTHENTICATION_BACKENDS[0])
    writes = [
        ("POST", "/api/invitations", {"phone": "+79165550009"}),
        ("POST", "/api/me/sessions/end-others", {}),
        ("POST", "/api/me/password",
         {"current_password": PASSWORD, "new_password": "another fine passphrase"}),
        ("DELETE", "/api/session", None),
    ]
    for method, path, body in writes:
        response = browser.generic(method, path, data=json.dumps(body or {}),
                                   content_type="application/json")
        assert response.status_code == 401, path
        assert response["WWW-Authenticate"] == "Bearer"
    assert browser.post("/profile/sessions/end-others").status_code == 403  # no CSRF token
    assert MemberSession.objects.filter(member=founder).count() == 1
    api = ApiClient()
    api.client = Client(enforce_csrf_checks=True)
    api.log_in("+79160000001")
    ended = api.post("/me/sessions/end-others", {})
    assert ended.status_code == 200, ended.json_body
    assert ended.json_body["ended"] == 1  # the page's session
