"""A wall post or a message sent twice lands once: a double tap on a page's button
(the form's single-use submission key) and an API client's retry (the Idempotency-Key
header) get the first one's result instead of a second post or message. The race of
two at once is in test_concurrency.py."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

from inviteonly.accounts.models import Member
from inviteonly.social.models import IdempotencyKey, Message, WallPost
from tests.api_document import document
from tests.conftest import FrozenClock, make_member
from tests.social_helpers import befriend, member_with_api

pytestmark = pytest.mark.django_db

KEY = {"Idempotency-Key": "3f1c2a9e-retry-me"}


def signed_in(member: Member, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(member)
    return client


def submission_key_in(page: str) -> str:
    found = re.search(r'name="submission_key" value="([^"]+)"', page)
    assert found, "the form carries no submission key"
    return found.group(1)


# ---------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------


def test_a_wall_posts_form_sent_twice_posts_once_and_lands_on_the_wall_both_times() -> None:
    anna = make_member(display_name="Anna")
    as_anna = signed_in(anna)
    wall = f"/members/{anna.id}/"
    key = submission_key_in(as_anna.get(wall).content.decode())
    assert key != submission_key_in(as_anna.get(wall).content.decode())  # one per form

    form = {"text": "Hello, wall", "submission_key": key}
    first = as_anna.post(f"/members/{anna.id}/post", form)
    second = as_anna.post(f"/members/{anna.id}/post", form)
    assert (first.status_code, first["Location"]) == (302, wall)
    assert (second.status_code, second["Location"]) == (302, wall)
    assert WallPost.objects.filter(author=anna).count() == 1
    # The page it lands on has a new key: the next post is a new post.
    page = as_anna.get(wall).content.decode()
    assert page.count("Hello, wall") == 1
    as_anna.post(
        f"/members/{anna.id}/post",
        {"text": "Hello, wall", "submission_key": submission_key_in(page)},
    )
    assert WallPost.objects.filter(author=anna).count() == 2


def test_a_message_form_sent_twice_sends_once_and_lands_on_the_conversation() -> None:
    anna, boris = make_member(display_name="Anna"), make_member(display_name="Boris")
    as_anna = signed_in(anna)
    page = f"/messages/{boris.id}/"
    key = submission_key_in(as_anna.get(page).content.decode())
    form = {"text": "Coffee?", "submission_key": key}
    first, second = as_anna.post(page, form), as_anna.post(page, form)
    assert (first.status_code, first["Location"]) == (302, page)
    assert (second.status_code, second["Location"]) == (302, page)
    assert Message.objects.count() == 1
    assert as_anna.get(page).content.decode().count("Coffee?") == 1


def test_a_refused_post_keeps_its_key_for_the_corrected_one() -> None:
    """Nothing was stored for a refusal: the form shown again with the text carries the
    same key, and the corrected post is posted."""
    anna = make_member(display_name="Anna")
    as_anna = signed_in(anna)
    key = submission_key_in(as_anna.get(f"/members/{anna.id}/").content.decode())
    refused = as_anna.post(f"/members/{anna.id}/post", {"text": "x" * 5001, "submission_key": key})
    assert refused.status_code == 400
    assert submission_key_in(refused.content.decode()) == key
    assert (
        as_anna.post(
            f"/members/{anna.id}/post", {"text": "shorter", "submission_key": key}
        ).status_code
        == 302
    )
    assert WallPost.objects.get().text == "shorter"


@pytest.mark.parametrize(
    ("language", "notice"),
    [
        ("en", "This form was already sent"),
        ("ru", "Эта форма уже отправлена"),
    ],
)
@pytest.mark.parametrize(("kind", "status"), [("wall post", 409), ("message", 200)])
def test_a_sent_form_changed_after_going_back_is_shown_again_with_a_new_key(
    language: str, notice: str, kind: str, status: int
) -> None:
    """The browser's back button brings the sent form back, key and all; what is typed
    into it then is another request. The page says the form was sent, keeps the text and
    gives the form a new key: sent again, the text is posted."""
    anna, boris = make_member(display_name="Anna"), make_member(display_name="Boris")
    as_anna = signed_in(anna, language)
    model: type[WallPost | Message]
    if kind == "wall post":
        page, action, model = f"/members/{anna.id}/", f"/members/{anna.id}/post", WallPost
    else:
        page, action, model = f"/messages/{boris.id}/", f"/messages/{boris.id}/", Message
    key = submission_key_in(as_anna.get(page).content.decode())
    as_anna.post(action, {"text": "First", "submission_key": key})
    again = as_anna.post(action, {"text": "Second thoughts", "submission_key": key})
    html = again.content.decode()
    assert again.status_code == status  # as each page answers a refusal
    assert notice in html
    assert re.search(r"<textarea[^>]*>\s*Second thoughts</textarea>", html)
    new_key = submission_key_in(html)
    assert new_key != key
    assert [row.text for row in model.objects.all()] == ["First"]
    assert (
        as_anna.post(action, {"text": "Second thoughts", "submission_key": new_key}).status_code
        == 302
    )
    assert sorted(row.text for row in model.objects.all()) == ["First", "Second thoughts"]


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
