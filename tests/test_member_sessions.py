"""A member sees where they are logged in (pages and API) and logs out the others:
all of them but this one, or one chosen. Only their own sessions are listed or ended;
another member's id answers as one that does not exist. "Last used" is written at most
once every SESSION_LAST_SEEN_INTERVAL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.auth.hashers import Argon2PasswordHasher, make_password
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inviteonly import settings as production_settings
from inviteonly.accounts.models import Member, MemberSession
from inviteonly.accounts.queries import sessions_of
from inviteonly.accounts.sessions import SessionStore, session_public_id, stored_session_key
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.lib.clients import ClientDescription, describe_client, masked_network
from tests.conftest import PASSWORD, ApiClient, FrozenClock, SmsOutbox, make_member

pytestmark = pytest.mark.django_db

VERA = "+79165550001"
BORIS = "+79165550002"
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)


@pytest.fixture
def vera() -> Member:
    return make_member(phone=VERA, display_name="Vera")


@pytest.fixture
def boris() -> Member:
    return make_member(phone=BORIS, display_name="Boris")


def browser(phone: str, user_agent: str = ANDROID_CHROME) -> Client:
    client = Client(HTTP_USER_AGENT=user_agent)
    response = client.post("/login/", {"phone": phone, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def api_client(phone: str, user_agent: str = "python-requests/2.32.3") -> ApiClient:
    api = ApiClient()
    api.client.defaults["HTTP_USER_AGENT"] = user_agent
    api.log_in(phone)
    return api


def page_sessions(client: Client) -> list[Any]:
    response = client.get("/profile/sessions/")
    assert response.status_code == 200
    return list(response.context["sessions"])


def cookie(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_the_page_lists_the_members_own_sessions_this_one_first_and_no_key(
    vera: Member, boris: Member
) -> None:
    here = browser(VERA)
    elsewhere = browser(VERA, MAC_SAFARI)
    api = api_client(VERA)
    borises = browser(BORIS)

    response = here.get("/profile/sessions/")
    shown = list(response.context["sessions"])
    assert len(shown) == 3
    assert [row.current for row in shown] == [True, False, False]
    first = shown[0]
    assert (first.kind, first.client, first.network) == ("web", "Chrome on Android", "127.0.0.0/24")
    assert first.created_at is not None and first.last_seen_at is not None
    assert {(row.kind, row.client) for row in shown[1:]} == {
        ("web", "Safari on macOS"), ("api", "python-requests")
    }
    html = response.content.decode()
    assert 'data-testid="this-session"' in html
    assert html.count('data-testid="session"') == 3
    # Neither a key nor its stored digest nor the full address; Boris's session absent.
    assert api.token is not None
    for secret in (cookie(here), cookie(elsewhere), api.token):
        assert secret not in html
        assert stored_session_key(secret) not in html
    assert "127.0.0.1" not in html
    assert session_public_id(stored_session_key(cookie(borises))) not in html
    # Linked from the profile page, next to "Change password".
    assert 'href="/profile/sessions/"' in here.get("/profile/").content.decode()
    # And in Russian.
    here.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    russian = here.get("/profile/sessions/").content.decode()
    assert "Где вы вошли" in russian and "Chrome, Android" in russian


def test_log_out_everywhere_else_ends_every_other_session_and_keeps_this_one(
    vera: Member, boris: Member
) -> None:
    here = browser(VERA)
    elsewhere = browser(VERA, MAC_SAFARI)
    api = api_client(VERA)
    borises = browser(BORIS)

    ended = here.post("/profile/sessions/end-others", follow=True)

    assert ended.redirect_chain == [("/profile/sessions/", 302)]
    assert "You were logged out of 2 other sessions." in ended.content.decode()
    assert [row.current for row in ended.context["sessions"]] == [True]
    assert here.get("/invite/").status_code == 200
    assert elsewhere.get("/invite/").status_code == 302
    assert api.get("/me").status_code == 401
    assert borises.get("/invite/").status_code == 200  # another member's: untouched
    entry = AuditEntry.objects.get(action=AuditAction.OTHER_SESSIONS_ENDED)
    assert (entry.actor, entry.target_member, entry.details) == (vera, vera, {"count": 2})
    assert entry.ip_address == "127.0.0.1"
    # Nothing left to end: said so, and still audited.
    again = here.post("/profile/sessions/end-others", follow=True)
    assert "You had no other session to end." in again.content.decode()


def test_the_page_asks_for_post_and_a_login() -> None:
    assert Client().get("/profile/sessions/").status_code == 302
    assert Client().post("/profile/sessions/end-others").status_code == 302
    assert MemberSession.objects.count() == 0


def test_ending_one_session_on_the_page(vera: Member) -> None:
    here = browser(VERA)
    elsewhere = browser(VERA, MAC_SAFARI)
    api = api_client(VERA)
    chosen = session_public_id(stored_session_key(cookie(elsewhere)))

    response = here.post(f"/profile/sessions/{chosen}/end", follow=True)

    assert "The session has ended" in response.content.decode()
    assert elsewhere.get("/invite/").status_code == 302
    assert api.get("/me").status_code == 200
    assert here.get("/invite/").status_code == 200
    entry = AuditEntry.objects.get(action=AuditAction.SESSION_ENDED)
    assert (entry.actor, entry.details) == (vera, {"count": 1})


def test_another_members_session_is_refused_as_if_it_did_not_exist(
    vera: Member, boris: Member
) -> None:
    here = browser(VERA)
    borises = browser(BORIS)
    borises_id = session_public_id(stored_session_key(cookie(borises)))
    made_up = "0123456789abcdef"

    on_page = here.post(f"/profile/sessions/{borises_id}/end", follow=True).content.decode()
    assert "There is no such session" in on_page
    assert borises.get("/invite/").status_code == 200

    api = api_client(VERA)
    theirs = api.request("DELETE", f"/me/sessions/{borises_id}")
    unknown = api.request("DELETE", f"/me/sessions/{made_up}")
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json_body == unknown.json_body
    assert theirs.json_body["code"] == "session_not_found"
    assert borises.get("/invite/").status_code == 200
    assert not AuditEntry.objects.filter(action=AuditAction.SESSION_ENDED).exists()
    # Not an id at all: refused by the document's pattern.
    assert api.request("DELETE", "/me/sessions/not-an-id").status_code == 422


def test_the_api_lists_the_members_sessions(vera: Member, boris: Member) -> None:
    here = browser(VERA)
    api = api_client(VERA)
    api_client(BORIS)

    listed = api.get("/me/sessions")

    assert listed.status_code == 200
    body = listed.json_body
    assert [(row["current"], row["kind"], row["client"]) for row in body] == [
        (True, "api", "python-requests"), (False, "web", "Chrome on Android"),
    ]
    assert body[1]["id"] == session_public_id(stored_session_key(cookie(here)))
    assert all(row["network"] == "127.0.0.0/24" for row in body)
    assert api.token is not None and api.token not in listed.content.decode()
    assert stored_session_key(api.token) not in listed.content.decode()
    assert ApiClient().get("/me/sessions").status_code == 401


def test_the_api_ends_the_other_sessions_and_keeps_its_token(vera: Member) -> None:
    here = browser(VERA)
    other_api = api_client(VERA)
    api = api_client(VERA)

    ended = api.post("/me/sessions/end-others")

    assert ended.status_code == 200
    assert ended.json_body["ended"] == 2
    assert "2 other sessions" in ended.json_body["detail"]
    assert api.get("/me").status_code == 200
    assert other_api.get("/me").status_code == 401
    assert here.get("/invite/").status_code == 302
    assert [row["current"] for row in api.get("/me/sessions").json_body] == [True]


ONE_ENDED = {
    "en": "You were logged out of 1 other session.",
    "ru": "Завершён 1 другой сеанс.",
}
NO_OTHER_SESSION = {
    "en": "You had no other session to end.",
    "ru": "Других сеансов, которые можно завершить, не было.",
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_api_and_the_page_say_the_same_when_there_was_no_other_session(
    language: str,
) -> None:
    """Not "logged out of 0 other sessions" from the API while the page says there was
    none; and, with one, the same words on both."""
    make_member(phone=VERA, display_name="Vera", language=language)
    api = ApiClient(language)
    api.log_in(VERA)
    by_api = api.post("/me/sessions/end-others")
    assert by_api.status_code == 200
    assert (by_api.json_body["ended"], by_api.json_body["detail"]) == (
        0, NO_OTHER_SESSION[language]
    )
    here = Client(HTTP_USER_AGENT=ANDROID_CHROME, HTTP_ACCEPT_LANGUAGE=language)
    here.post("/login/", {"phone": VERA, "password": PASSWORD})
    by_api = api.post("/me/sessions/end-others")
    assert (by_api.json_body["ended"], by_api.json_body["detail"]) == (1, ONE_ENDED[language])

    here.post("/login/", {"phone": VERA, "password": PASSWORD})
    on_page = here.post("/profile/sessions/end-others", follow=True)  # the API's
    assert [str(message) for message in on_page.context["messages"]] == [ONE_ENDED[language]]
    on_page = here.post("/profile/sessions/end-others", follow=True)
    assert [str(message) for message in on_page.context["messages"]] == [
        NO_OTHER_SESSION[language]
    ]



def test_the_api_ends_one_session_but_not_its_own(vera: Member) -> None:
    here = browser(VERA)
    other_api = api_client(VERA)
    api = api_client(VERA)
    assert other_api.token is not None and api.token is not None

    others_id = session_public_id(stored_session_key(other_api.token))
    gone = api.request("DELETE", f"/me/sessions/{others_id}")
    assert gone.status_code == 204
    assert other_api.get("/me").status_code == 401
    assert here.get("/invite/").status_code == 200

    own_id = session_public_id(stored_session_key(api.token))
    own = api.request("DELETE", f"/me/sessions/{own_id}")
    assert own.status_code == 409 and own.json_body["code"] == "current_session"
    assert api.get("/me").status_code == 200


def _session_writes(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries
            if "accounts_member_session" in query["sql"]
            and query["sql"].lstrip().upper().startswith("UPDATE")]


def test_last_used_is_written_at_most_once_an_interval(
    vera: Member, clock: FrozenClock
) -> None:
    interval = settings.SESSION_LAST_SEEN_INTERVAL
    assert interval == timedelta(minutes=5)

    def request_counts(request: Any) -> tuple[int, list[str]]:
        with CaptureQueriesContext(connection) as captured:
            assert request().status_code == 200
        return len(captured.captured_queries), _session_writes(captured)

    api = ApiClient()
    api.client.defaults["HTTP_USER_AGENT"] = "python-requests/2.32.3"
    here = Client()
    requests = {"api": lambda: api.get("/me"), "web": lambda: here.get("/invite/")}
    for kind, request in requests.items():
        logged_in_at = clock.advance(hours=1)
        if kind == "api":
            api.log_in(VERA)
        else:
            here.post("/login/", {"phone": VERA, "password": PASSWORD})
        clock.advance(minutes=1)
        soon_count, soon_writes = request_counts(request)
        assert soon_writes == []
        due = clock.advance(seconds=interval.total_seconds())
        due_count, due_writes = request_counts(request)
        assert len(due_writes) == 1
        assert due_count == soon_count + 1
        clock.advance(minutes=1)
        again_count, again_writes = request_counts(request)
        assert again_writes == [] and again_count == soon_count
        row = MemberSession.objects.get(member=vera, kind=kind)
        assert (row.created_at, row.last_seen_at) == (logged_in_at, due)


def test_a_password_change_keeps_the_sessions_start_and_kind(
    vera: Member, clock: FrozenClock
) -> None:
    started = clock.current
    api = api_client(VERA)
    clock.advance(hours=1)
    changed = api.post("/me/password", {
        "current_password": PASSWORD, "new_password": "another long passphrase",
    })
    assert changed.status_code == 200
    api.token = changed.json_body["session_token"]
    (row,) = api.get("/me/sessions").json_body
    assert row["kind"] == "api" and row["client"] == "python-requests"
    assert row["created_at"] is not None
    assert MemberSession.objects.get(member=vera).created_at == started


def test_older_sessions_without_the_new_columns_are_listed_with_what_is_known(
    vera: Member,
) -> None:
    store = SessionStore()
    store.update({
        "_auth_user_id": str(vera.pk),
        "_auth_user_backend": "inviteonly.accounts.backends.PhonePasswordBackend",
        HASH_SESSION_KEY: vera.get_session_auth_hash(),
    })
    store.create()
    MemberSession.objects.filter(member=vera).update(
        kind="", created_at=None, last_seen_at=None
    )
    (shown,) = sessions_of(vera, session=SessionStore())
    assert (shown.kind, shown.kind_label, shown.created_at, shown.last_seen_at) == (
        "", "", None, None
    )


@pytest.mark.django_db(transaction=True)
def test_the_migration_adds_empty_facts_to_existing_sessions(vera: Member) -> None:
    executor = MigrationExecutor(connection)
    before = [("accounts", "0005_move_django_sessions")]
    latest = executor.loader.graph.leaf_nodes("accounts")
    executor.migrate(before)
    expires = timezone.now() + timedelta(days=1)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_member_session "
            "(session_key, session_data, expire_date, member_id) VALUES (%s, %s, %s, %s)",
            ["c" * 40, "", expires, vera.pk],
        )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(latest)
    row = MemberSession.objects.get(session_key="c" * 40)
    assert (row.kind, row.browser, row.system, row.network) == ("", "", "", "")
    assert row.created_at is None and row.last_seen_at is None


@pytest.mark.parametrize(("user_agent", "expected"), [
    (ANDROID_CHROME, ClientDescription("Chrome", "Android")),
    (MAC_SAFARI, ClientDescription("Safari", "macOS")),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
     ClientDescription("Safari", "iOS")),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", ClientDescription("Edge", "Windows")),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
     ClientDescription("Firefox", "Linux")),
    ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 "
     "YaBrowser/24.4.0.0 Safari/537.36", ClientDescription("Yandex Browser", "Windows")),
    ("okhttp/4.12.0", ClientDescription("okhttp", "")),
    ("x" * 100 + "/1.0", ClientDescription("x" * 32, "")),
    ("<script>alert(1)</script>", ClientDescription("", "")),
    ("Mozilla/5.0", ClientDescription("", "")),
    ("", ClientDescription("", "")),
])
def test_a_user_agent_is_reduced_to_a_browser_family_and_system(
    user_agent: str, expected: ClientDescription
) -> None:
    assert describe_client(user_agent) == expected


@pytest.mark.parametrize(("address", "network"), [
    ("203.0.113.77", "203.0.113.0/24"),
    ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
    ("::ffff:198.51.100.9", "198.51.100.0/24"),
    ("not an address", ""),
    (None, ""),
])
def test_an_address_is_shown_only_as_its_network(address: str | None, network: str) -> None:
    assert masked_network(address) == network


def test_storing_a_session_again_keeps_when_it_was_last_used(
    vera: Member, clock: FrozenClock
) -> None:
    # A page that writes to the session (starting a move to a new number) stores the
    # whole row again: "last used" is not lost to it, nor written anew on the next
    # request.
    here = browser(VERA)
    clock.advance(minutes=10)
    assert here.get("/invite/").status_code == 200
    used = MemberSession.objects.get(member=vera).last_seen_at
    assert used == clock.current
    clock.advance(minutes=1)
    store = SessionStore(session_key=cookie(here))
    store["_some_step"] = 1
    store.save()
    assert MemberSession.objects.get(member=vera).last_seen_at == used
    clock.advance(minutes=1)
    with CaptureQueriesContext(connection) as captured:
        assert here.get("/invite/").status_code == 200
    assert _session_writes(captured) == []
    (shown,) = page_sessions(here)
    assert shown.last_seen_at == used


def test_a_recovery_ends_the_sessions_the_page_would_list(
    vera: Member, sms_outbox: SmsOutbox
) -> None:
    # A recovered password logs the member out everywhere: those sessions are gone, not
    # listed as where they are logged in, nor counted by "log out everywhere else".
    lost = browser(VERA, MAC_SAFARI)
    api_client(VERA)
    recovery = ApiClient()
    started = recovery.post("/recovery", {"phone": VERA})
    assert started.status_code == 202
    recovered = recovery.post("/recovery/confirm", {
        "verification_token": started.json_body["verification_token"],
        "code": sms_outbox.code_for(VERA), "new_password": "a brand new passphrase",
    })
    assert recovered.status_code == 200, recovered.json_body
    assert not MemberSession.objects.filter(member=vera).exists()
    assert lost.get("/profile/sessions/").status_code == 302
    here = Client(HTTP_USER_AGENT=ANDROID_CHROME)
    here.post("/login/", {"phone": VERA, "password": "a brand new passphrase"})
    (shown,) = page_sessions(here)
    assert shown.current
    ended = here.post("/profile/sessions/end-others", follow=True)
    assert "You had no other session to end." in ended.content.decode()


@pytest.mark.parametrize(("minutes", "language", "words"), [
    (1, "en", "exact to about 1 minute."),
    (5, "en", "exact to about 5 minutes."),
    (1, "ru", "точно примерно до 1 минуты."),
    (2, "ru", "точно примерно до 2 минут."),
    (5, "ru", "точно примерно до 5 минут."),
    (21, "ru", "точно примерно до 21 минуты."),
])
def test_the_sessions_page_counts_its_minutes_in_the_readers_language(
    vera: Member, minutes: int, language: str, words: str
) -> None:
    """INVITEONLY_SESSION_LAST_SEEN_MINUTES may be 1 to 1440: the page said "1 minutes"
    and, in Russian, "до 1 минут", "до 21 минут"."""
    here = browser(VERA)
    here.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    with override_settings(SESSION_LAST_SEEN_INTERVAL=timedelta(minutes=minutes)):
        html = here.get("/profile/sessions/").content.decode()
    assert words in html


def test_a_member_logged_in_who_recovers_on_that_page_is_sent_to_log_in(
    vera: Member, sms_outbox: SmsOutbox
) -> None:
    # The recovery ends every session, the one the recovery pages run in too: they go on
    # logged out, to the login page with its message, not to an error page.
    here = browser(VERA)
    assert here.post("/recover/", {"phone": VERA})["Location"] == "/recover/confirm/"
    recovered = here.post("/recover/confirm/", {
        "code": sms_outbox.code_for(VERA), "new_password": "a brand new passphrase",
    })
    assert recovered.status_code == 302
    assert recovered["Location"] == "/login/"
    login_page = here.get("/login/")
    assert "Your password has been changed." in login_page.content.decode()
    assert here.get("/profile/sessions/").status_code == 302
    assert not MemberSession.objects.filter(member=vera).exists()
    assert Member.objects.get(id=vera.id).check_password("a brand new passphrase")


class StrongerArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2 as a later Django release may tune it: every stored hash "must update"."""

    time_cost = Argon2PasswordHasher.time_cost + 1


@pytest.mark.parametrize("older", ["pbkdf2", "weaker_argon2"])
def test_a_login_that_upgrades_the_password_hash_keeps_the_other_sessions(
    older: str, vera: Member
) -> None:
    """A hash made by an older hasher, or with older parameters, is stored anew when its
    password logs in. That is no password change: the member's other sessions, pages and
    API, stay logged in and listed, and their pages stay usable."""
    production = production_settings.PASSWORD_HASHERS
    # The hashers of the first logins, then of the one that upgrades the hash.
    first, then = (
        ([production[1], production[0]], production) if older == "pbkdf2"
        else (production, ["tests.test_member_sessions.StrongerArgon2PasswordHasher",
                           *production])
    )
    with override_settings(PASSWORD_HASHERS=first):
        Member.objects.filter(id=vera.id).update(password=make_password(PASSWORD))
        phone, token = browser(VERA), api_client(VERA)
    before = Member.objects.get(id=vera.id).password
    with override_settings(PASSWORD_HASHERS=then):
        laptop = browser(VERA, MAC_SAFARI)
        assert Member.objects.get(id=vera.id).password != before  # upgraded
        assert phone.get("/profile/sessions/").status_code == 200
        assert token.get("/me").status_code == 200
        listed = page_sessions(laptop)
        assert len(listed) == 3
        assert len(token.get("/me/sessions").json_body) == 3
        assert len(page_sessions(phone)) == 3
        # A real change of the password still ends the others.
        changed = token.post("/me/password", {
            "current_password": PASSWORD, "new_password": "a brand new passphrase",
        })
        assert changed.status_code == 200, changed.json_body
        token.token = changed.json_body["session_token"]
        assert phone.get("/profile/sessions/").status_code == 302
        assert laptop.get("/profile/sessions/").status_code == 302
        assert len(token.get("/me/sessions").json_body) == 1


def test_a_session_that_no_longer_verifies_is_not_listed(vera: Member) -> None:
    """A session whose auth hash is no longer the member's (signed before a secret key
    rotated out of the fallbacks) would be refused if used: it is not listed either."""
    phone, token = browser(VERA), api_client(VERA)
    stale = SessionStore(session_key=cookie(phone))
    stale[HASH_SESSION_KEY] = "0" * 64
    stale.save()
    assert len(token.get("/me/sessions").json_body) == 1
    assert phone.get("/profile/sessions/").status_code == 302
