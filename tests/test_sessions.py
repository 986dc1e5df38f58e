"""Sessions: keys stored only as digests, cycled at login, ended by a password change."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from inviteonly.accounts.models import Member
from inviteonly.accounts.sessions import SessionStore, stored_session_key
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_session_key_is_stored_only_as_a_digest(founder: Member) -> None:
    client = Client()
    client.post("/login/", {"phone": "+79160000001", "password": PASSWORD})
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert not Session.objects.filter(session_key=key).exists()
    assert Session.objects.filter(session_key=stored_session_key(key)).exists()
    assert SessionStore(session_key=key).load()  # and it still loads by the real key


def test_login_cycles_a_planted_session_key(founder: Member) -> None:
    client = Client()
    client.post("/recover/", {"phone": "+79169999999"})  # an anonymous session with a key
    planted = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post("/login/", {"phone": "+79160000001", "password": PASSWORD})
    fresh = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert fresh != planted
    assert SessionStore(session_key=planted).load() == {}


def test_logout_deletes_the_stored_session(founder: Member) -> None:
    client = Client()
    client.post("/login/", {"phone": "+79160000001", "password": PASSWORD})
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post("/logout/")
    assert not Session.objects.filter(session_key=stored_session_key(key)).exists()


def test_password_change_ends_other_sessions(founder: Member) -> None:
    client = Client()
    client.post("/login/", {"phone": "+79160000001", "password": PASSWORD})
    assert client.get("/invite/").status_code == 200
    founder.set_password("another long passphrase")
    founder.save(update_fields=["password"])
    assert client.get("/invite/").status_code == 302
