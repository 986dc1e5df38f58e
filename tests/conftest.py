"""Shared fixtures: the SMS outbox, a controllable clock, member factories, an API client."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.db.models import Model
from django.test import Client
from django.utils import translation

from inviteonly.abuse.limiter import RedisStore, forget_full_buckets
from inviteonly.accounts.models import Member
from inviteonly.lib import clock as clock_module
from inviteonly.lib import crypto
from inviteonly.lib.phone_numbers import normalize_phone_number
from inviteonly.sms.delivery import deliver_due_messages, forget_gateway_states
from inviteonly.sms.gateways import get_gateway
from inviteonly.sms.gateways.memory import DeliveredSms, MemoryGateway
from tests.api_document import check_against_document

PASSWORD = "correct horse battery"
STRICT = os.environ.get("INVITEONLY_STRICT_TESTS") == "1"


@pytest.fixture(autouse=True)
def no_remembered_refusals() -> Iterator[None]:
    """The limiter remembers full windows per process; each test's counters start
    empty (rolled back) at the same frozen instant, so its memory must too."""
    forget_full_buckets()
    yield
    forget_full_buckets()


@pytest.fixture(autouse=True)
def gateways_up() -> Iterator[None]:
    """The delivery worker remembers, per process, which gateways are down (for its
    suppressed messages; the outages it shares with other workers are rows, rolled
    back with each test): each test starts with every gateway up."""
    forget_gateway_states()
    yield
    forget_gateway_states()


@pytest.fixture(autouse=True)
def default_language() -> Iterator[None]:
    """Each test starts in the default language: the test client runs requests in the
    test's own thread, and a request in Russian leaves Russian active there."""
    translation.deactivate()
    yield
    translation.deactivate()


def skip_or_fail(reason: str) -> None:
    """Skip a test whose tool is missing; under INVITEONLY_STRICT_TESTS=1 (CI), fail it."""
    if STRICT:
        pytest.fail(f"{reason} (INVITEONLY_STRICT_TESTS=1 forbids skipping)")
    pytest.skip(reason)


class SmsOutbox:
    """What the members' phones received: delivers queued SMS through the memory gateway."""

    def __init__(self, gateway: MemoryGateway) -> None:
        self.gateway = gateway

    @property
    def messages(self) -> list[DeliveredSms]:
        return list(self.gateway.messages)

    def deliver(self) -> list[DeliveredSms]:
        before = len(self.gateway.messages)
        while deliver_due_messages(gateway=self.gateway):
            pass
        return self.gateway.messages[before:]

    def to(self, e164: str) -> list[DeliveredSms]:
        self.deliver()
        return [message for message in self.gateway.messages if message.to == e164]

    def last_text_to(self, e164: str) -> str:
        received = self.to(e164)
        assert received, f"no SMS reached {e164}"
        return received[-1].text

    def code_for(self, e164: str) -> str:
        match = re.search(r"\b(\d{6})\b", self.last_text_to(e164))
        assert match, "the last SMS holds no code"
        return match.group(1)

    def join_token_for(self, e164: str) -> str:
        match = re.search(r"/j/([A-Za-z0-9_-]+)", self.last_text_to(e164))
        assert match, "the last SMS holds no join link"
        return match.group(1)

    def join_tokens_for(self, e164: str) -> list[str]:
        return [
            match.group(1)
            for message in self.to(e164)
            if (match := re.search(r"/j/([A-Za-z0-9_-]+)", message.text))
        ]


@pytest.fixture
def sms_outbox() -> Iterator[SmsOutbox]:
    gateway = get_gateway()
    assert isinstance(gateway, MemoryGateway)
    gateway.clear()
    yield SmsOutbox(gateway)
    gateway.clear()


class FrozenClock:
    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    # Today's midnight (UTC): every fixed window a test uses (a minute, an hour, a day)
    # begins at the frozen moment, so a test that advances the clock by less than a
    # window stays inside it whatever time of day the suite runs.
    frozen = FrozenClock(clock_module.now().replace(hour=0, minute=0, second=0, microsecond=0))
    clock_module.use_source(frozen)
    yield frozen
    clock_module.use_source(None)


@cache
def _password_hash() -> str:
    return make_password(PASSWORD)


_phone_counter = iter(range(10**6))


def new_ru_number() -> str:
    # +7 926: no test types a number there, so a made-up member never takes one.
    return f"+7926{next(_phone_counter):07d}"


def assert_read_like_the_orm(ours: Model | None, theirs: Model | None) -> None:
    """Every stored field of ``ours`` (read with hand-written SQL: lib/queries.py) is the
    ORM's ``theirs``, type included (SQLite keeps booleans as 0/1 and datetimes without
    their zone); None where the ORM has None."""
    if theirs is None:
        assert ours is None
        return
    assert ours is not None
    for field in type(theirs)._meta.concrete_fields:
        value, expected = getattr(ours, field.attname), getattr(theirs, field.attname)
        assert (value, type(value)) == (expected, type(expected)), field.name


def migrate(*targets: tuple[str, str]) -> None:
    """Migrate the test database to ``targets`` (app, migration), or with none to every
    app's latest: for tests of data migrations (transactional_db)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate(list(targets) or executor.loader.graph.leaf_nodes())


def make_member(
    *,
    phone: str | None = None,
    display_name: str = "Member",
    role: str = Member.Role.MEMBER,
    language: str = "en",
    joined_at: datetime | None = None,
    invited_by: Member | None = None,
) -> Member:
    """A member created directly (the join flow has its own tests)."""
    number = normalize_phone_number(phone or new_ru_number())
    return Member.objects.create(
        display_name=display_name,
        phone_blind_index=crypto.blind_index(number.e164),
        phone_ciphertext=crypto.encrypt(number.e164, purpose=crypto.Purpose.PHONE_NUMBER),
        phone_masked=number.masked,
        language=language,
        role=role,
        is_staff=role == Member.Role.FOUNDER,
        is_superuser=role == Member.Role.FOUNDER,
        joined_at=joined_at or clock_module.now(),
        invited_by=invited_by,
        password=_password_hash(),
    )


@pytest.fixture
def founder(db: None) -> Member:
    return make_member(display_name="Founder Anna", role=Member.Role.FOUNDER, phone="+79160000001")


class ApiClient:
    """JSON requests against /api with an optional bearer token; every answer is checked
    against the OpenAPI document (``tests.api_document``)."""

    def __init__(self, language: str = "en") -> None:
        self.client = Client(HTTP_ACCEPT_LANGUAGE=language)
        self.token: str | None = None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(
        self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> Any:
        response: Any = self.client.generic(
            method,
            f"/api{path}",
            data=json.dumps(body) if body is not None else "",
            content_type="application/json",
            headers={**self._headers(), **(headers or {})},
        )
        response.json_body = response.json() if response.content else None
        check_against_document(method, f"/api{path}", response)
        return response

    def post(self, path: str, body: Any = None, *, headers: dict[str, str] | None = None) -> Any:
        return self.request("POST", path, body, headers=headers)

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def log_in(self, phone: str, password: str = PASSWORD) -> Any:
        response = self.post("/session", {"phone": phone, "password": password})
        assert response.status_code == 201, response.json_body
        self.token = response.json_body["session_token"]
        return response


@pytest.fixture
def api() -> ApiClient:
    return ApiClient()


# A Redis database the tests may write to (keys they make are removed afterwards).
REDIS_URL = os.environ.get("INVITEONLY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_store() -> Iterator[RedisStore]:
    import redis

    store = RedisStore(REDIS_URL)
    try:
        store.client.ping()
    except redis.exceptions.ConnectionError:
        skip_or_fail(f"no Redis at {REDIS_URL} (Debian package redis-server)")

    def remove_test_keys() -> None:
        for pattern in ("rl:test-*", "sms:*"):
            for key in store.client.scan_iter(pattern):
                store.client.delete(key)

    remove_test_keys()
    yield store
    remove_test_keys()
