"""A wall post or a message sent twice lands once: an API client's retry (the
Idempotency-Key header) gets the first one's result instead of a second post or
message. The race of two at once is in test_concurrency.py."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from inviteonly.social.models import IdempotencyKey, Message, WallPost
from tests.api_document import document
from tests.conftest import FrozenClock, make_member
from tests.social_helpers import befriend, member_with_api

pytestmark = pytest.mark.django_db

KEY = {"Idempotency-Key": "3f1c2a9e-retry-me"}


# ---------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------


def test_a_wall_post_retried_with_its_key_answers_the_first_post_again() -> None:
    anna, api = member_with_api("Anna")
    first = api.post(f"/members/{anna.id}/wall", {"text": "Hello"}, headers=KEY)
    again = api.post(f"/members/{anna.id}/wall", {"text": "Hello"}, headers=KEY)
    assert first.status_code == again.status_code == 201, again.json_body
    assert again.json_body == first.json_body
    assert WallPost.objects.count() == 1
    other_key = api.post(
        f"/members/{anna.id}/wall", {"text": "Hello"}, headers={"Idempotency-Key": "another"}
    )
    without_key = api.post(f"/members/{anna.id}/wall", {"text": "Hello"})
    assert other_key.status_code == without_key.status_code == 201
    assert WallPost.objects.count() == 3


def test_a_message_retried_with_its_key_answers_the_first_message_again() -> None:
    _anna, api = member_with_api("Anna")
    boris = make_member(display_name="Boris")
    first = api.post(f"/conversations/{boris.id}", {"text": "Hi"}, headers=KEY)
    again = api.post(f"/conversations/{boris.id}", {"text": "Hi"}, headers=KEY)
    assert first.status_code == again.status_code == 201, again.json_body
    assert again.json_body == first.json_body
    assert Message.objects.count() == 1
    assert api.get(f"/conversations/{boris.id}").json_body["messages"] == [first.json_body]


@pytest.mark.parametrize(
    ("language", "detail"),
    [("en", "Idempotency-Key was already used"), ("ru", "Idempotency-Key уже")],
)
def test_a_key_sent_again_with_another_request_is_refused_in_the_readers_language(
    language: str, detail: str
) -> None:
    anna, api = member_with_api("Anna", language=language)
    boris = make_member(display_name="Boris")
    befriend(anna, boris)
    assert api.post(f"/members/{anna.id}/wall", {"text": "Hello"}, headers=KEY).status_code == 201
    for path, body in (
        (f"/members/{anna.id}/wall", {"text": "Hello!"}),
        (f"/members/{boris.id}/wall", {"text": "Hello"}),
    ):
        refused = api.post(path, body, headers=KEY)
        assert refused.status_code == 422, refused.json_body
        assert refused.json_body["code"] == "idempotency_key_reused"
        assert refused.json_body["field"] == "Idempotency-Key"
        assert detail in refused.json_body["detail"]
    assert WallPost.objects.count() == 1


def test_keys_belong_to_one_member_and_one_operation() -> None:
    anna, as_anna = member_with_api("Anna")
    boris, as_boris = member_with_api("Boris")
    assert as_anna.post(f"/members/{anna.id}/wall", {"text": "Hi"}, headers=KEY).status_code == 201
    assert (
        as_boris.post(f"/members/{boris.id}/wall", {"text": "Hi"}, headers=KEY).status_code == 201
    )
    assert (
        as_anna.post(f"/conversations/{boris.id}", {"text": "Hi"}, headers=KEY).status_code == 201
    )
    assert WallPost.objects.count() == 2 and Message.objects.count() == 1


def test_a_retry_is_answered_even_past_the_rate_limit() -> None:
    """The retry creates nothing, so it counts nothing and is not refused."""
    anna, api = member_with_api("Anna")
    with override_settings(RATE_LIMITS={"wall_post": [("member", 1, 3600)]}):
        first = api.post(f"/members/{anna.id}/wall", {"text": "Hello"}, headers=KEY)
        again = api.post(f"/members/{anna.id}/wall", {"text": "Hello"}, headers=KEY)
        other = api.post(f"/members/{anna.id}/wall", {"text": "Hello"})
    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 429)


def test_a_retry_after_the_post_was_deleted_creates_nothing_and_says_so() -> None:
    anna, api = member_with_api("Anna")
    first = api.post(f"/members/{anna.id}/wall", {"text": "Hello"}, headers=KEY)
    assert api.request("DELETE", f"/posts/{first.json_body['id']}").status_code == 204
    again = api.post(f"/members/{anna.id}/wall", {"text": "Hello"}, headers=KEY)
    assert again.status_code == 409, again.json_body
    assert again.json_body["code"] == "idempotency_key_used"
    assert not WallPost.objects.exists()


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "кириллица"])
def test_a_malformed_key_is_refused(key: str) -> None:
    anna, api = member_with_api("Anna")
    refused = api.post(
        f"/members/{anna.id}/wall", {"text": "Hello"}, headers={"Idempotency-Key": key}
    )
    assert refused.status_code == 422, refused.json_body
    assert refused.json_body["field"] == "Idempotency-Key"
    assert not WallPost.objects.exists()


def test_the_document_declares_the_header_on_both_operations() -> None:
    for path in ("/api/members/{member_id}/wall", "/api/conversations/{member_id}"):
        parameters = document()["paths"][path]["post"]["parameters"]
        header = next(parameter for parameter in parameters if parameter["in"] == "header")
        assert header["name"] == "Idempotency-Key"
        assert not header.get("required")
        assert "24 hours" in header["description"]


def test_keys_are_stored_as_digests_and_last_the_window(clock: FrozenClock) -> None:
    anna, api = member_with_api("Anna")
    clock.advance()  # member_with_api's session came before the clock was frozen
    api.post(f"/members/{anna.id}/wall", {"text": "Hello"}, headers=KEY)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM social_idempotencykey")
        rows = cursor.fetchall()
    assert len(rows) == 1
    assert not any(
        KEY["Idempotency-Key"] in str(value) or "Hello" in str(value) for value in rows[0]
    )

    clock.advance(hours=23, minutes=59)
    assert api.post(f"/members/{anna.id}/wall", {"text": "Hello"}, headers=KEY).status_code == 201
    assert WallPost.objects.count() == 1
    clock.advance(minutes=2)  # the window is over: the key is a new one
    assert api.post(f"/members/{anna.id}/wall", {"text": "Hello"}, headers=KEY).status_code == 201
    assert WallPost.objects.count() == 2
    assert (
        api.post(f"/members/{anna.id}/wall", {"text": "Hello"}, headers=KEY).json_body["id"]
        == WallPost.objects.latest("id").id
    )


def test_sweep_deletes_the_keys_past_the_window(clock: FrozenClock) -> None:
    anna, api = member_with_api("Anna")
    for text in ("one", "two"):
        api.post(f"/members/{anna.id}/wall", {"text": text}, headers={"Idempotency-Key": text})
        clock.advance(hours=12)
    clock.advance(hours=-1)
    output = StringIO()
    call_command("sweep", stdout=output)
    assert "0 idempotency keys" in output.getvalue()
    clock.advance(hours=2)
    call_command("sweep", stdout=output)
    assert "1 idempotency keys" in output.getvalue()
    assert IdempotencyKey.objects.count() == 1
    assert WallPost.objects.count() == 2
