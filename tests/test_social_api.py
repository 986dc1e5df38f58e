"""The social layer through the JSON API: profiles and privacy, avatars, friends,
blocks, walls, private messages, new-member limits and quarantine."""

from __future__ import annotations

import io
import time
from datetime import datetime
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client, override_settings
from PIL import Image

from inviteonly import settings as production_settings
from inviteonly.accounts.models import Member
from inviteonly.lib import clock
from inviteonly.moderation.actions import (
    do_ban_member,
    do_lift_sanction,
    do_quarantine_member,
)
from inviteonly.notifications.models import Notification, NotificationKind
from inviteonly.social.actions import do_block_member, do_send_friend_request
from inviteonly.social.avatars import avatar_directory
from inviteonly.social.models import FriendRequest, Friendship, Message, Participant, WallPost
from inviteonly.social.rules import count_links
from tests.conftest import FrozenClock, make_member
from tests.social_helpers import BLOCKED_WALL, befriend, member_with_api

pytestmark = pytest.mark.django_db


def test_profile_defaults_are_private_about_the_phone_and_open_elsewhere() -> None:
    anna, api = member_with_api("Anna")
    mine = api.get("/profile")
    assert mine.status_code == 200
    assert mine.json_body == {
        "member": {"id": anna.id, "display_name": "Anna", "avatar_url": None},
        "about": "", "wall_audience": "everyone", "message_audience": "everyone",
        "findable_by_phone": False,
    }
    changed = api.request("PUT", "/profile", {
        "about": " Chess on Thursdays ", "wall_audience": "friends",
        "message_audience": "friends", "findable_by_phone": True,
    })
    assert changed.status_code == 200, changed.json_body
    assert changed.json_body["about"] == "Chess on Thursdays"
    assert changed.json_body["wall_audience"] == "friends"
    bad = api.request("PUT", "/profile", {"wall_audience": "strangers"})
    assert bad.status_code == 422 and bad.json_body["field"] == "wall_audience"
    too_long = api.request("PUT", "/profile", {"about": "x" * 1001})
    assert too_long.status_code == 422 and too_long.json_body["field"] == "about"
    assert api.get("/profile").json_body["about"] == "Chess on Thursdays"


def test_changing_one_field_of_the_profile_keeps_the_others() -> None:
    _anna, api = member_with_api("Anna")
    private = {"about": "hi", "wall_audience": "friends", "message_audience": "friends",
               "findable_by_phone": True}
    assert api.request("PUT", "/profile", private).status_code == 200
    changed = api.request("PUT", "/profile", {"about": "Chess on Thursdays"})
    assert changed.status_code == 200, changed.json_body
    assert {**changed.json_body, "member": None} == {
        **private, "about": "Chess on Thursdays", "member": None}
    nulls = api.request("PUT", "/profile", {"wall_audience": None, "findable_by_phone": False})
    assert nulls.status_code == 200, nulls.json_body
    assert api.get("/profile").json_body["wall_audience"] == "friends"
    assert api.get("/profile").json_body["findable_by_phone"] is False
    assert api.request("PUT", "/profile", {}).json_body["about"] == "Chess on Thursdays"


def _jpeg_with_gps() -> bytes:
    picture = Image.new("RGB", (640, 480), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (55.0, 45.0, 0.0)}  # GPS
    output = io.BytesIO()
    picture.save(output, format="JPEG", exif=exif)
    return output.getvalue()


def _upload(api, data: bytes, name: str = "me.jpg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return api.client.post(
        "/api/profile/avatar", {"avatar": SimpleUploadedFile(name, data)},
        headers={"Authorization": f"Bearer {api.token}"},
    )


def test_an_avatar_is_squared_reencoded_and_loses_its_metadata(
    django_capture_on_commit_callbacks,
) -> None:
    _anna, api = member_with_api("Anna")
    original = _jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif()
    answer = _upload(api, original)
    assert answer.status_code == 200, answer.content
    url = answer.json()["member"]["avatar_url"]
    served = api.client.get(url)
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    content = b"".join(served.streaming_content)  # type: ignore[attr-defined]
    stored = Image.open(io.BytesIO(content))
    assert stored.format == "JPEG" and stored.size == (256, 256)
    assert not stored.getexif() and "exif" not in stored.info
    first_file = url.rsplit("/", 1)[1]
    # A new avatar replaces the old file; removing it deletes the file.
    with django_capture_on_commit_callbacks(execute=True):
        second = _upload(api, original).json()["member"]["avatar_url"]
    assert not (avatar_directory() / first_file).exists()
    with django_capture_on_commit_callbacks(execute=True):
        removed = api.request("DELETE", "/profile/avatar")
    assert removed.json_body["member"]["avatar_url"] is None
    assert not (avatar_directory() / second.rsplit("/", 1)[1]).exists()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"GIF89a not really", "не картинка"),
        (b"%PDF-1.4 " + b"x" * 100, "не картинка"),
    ],
)
def test_a_file_that_is_not_a_picture_is_refused_in_the_readers_language(
    data: bytes, words: str
) -> None:
    _anna, api = member_with_api("Anna", language="ru")
    answer = _upload(api, data)
    assert answer.status_code == 400
    assert answer.json()["code"] == "avatar_invalid"
    assert words in answer.json()["detail"]


def test_an_avatar_over_the_size_limit_is_refused_before_decoding() -> None:
    _anna, api = member_with_api("Anna")
    with override_settings(AVATAR_MAX_BYTES=1000):
        answer = _upload(api, _jpeg_with_gps())
    assert answer.status_code == 400
    assert "too large" in answer.json()["detail"]


def test_friend_request_accept_lists_mutual_friends_and_remove() -> None:
    anna, anna_api = member_with_api("Anna")
    boris, boris_api = member_with_api("Boris")
    vera, _vera_api = member_with_api("Vera")
    befriend(anna, vera)
    befriend(boris, vera)

    sent = anna_api.post("/friend-requests", {"member_id": boris.id})
    assert sent.status_code == 201 and sent.json_body == {"friends": False}
    assert Notification.objects.filter(
        member=boris, kind=NotificationKind.FRIEND_REQUEST, subject=anna).exists()
    notices = boris_api.get("/me/notifications").json_body["items"]
    assert notices[0]["text"] == "Anna wants to be your friend."
    again = anna_api.post("/friend-requests", {"member_id": boris.id})
    assert again.status_code == 409 and again.json_body["code"] == "already_requested"
    requests = boris_api.get("/friend-requests").json_body
    assert [row["member"]["id"] for row in requests["incoming"]] == [anna.id]
    assert anna_api.get("/friend-requests").json_body["outgoing"][0]["member"]["id"] == boris.id
    assert anna_api.get(f"/members/{boris.id}").json_body["relation"]["request_sent"]

    assert boris_api.post(f"/friend-requests/{anna.id}/accept").status_code == 204
    assert Notification.objects.filter(member=anna, kind=NotificationKind.FRIEND_ACCEPTED).exists()
    assert not FriendRequest.objects.exists()
    assert {row["member"]["display_name"] for row in anna_api.get("/friends").json_body[
        "items"]} == {"Boris", "Vera"}
    mutual = anna_api.get(f"/members/{boris.id}/mutual-friends").json_body["items"]
    assert [row["member"]["display_name"] for row in mutual] == ["Vera"]
    profile = anna_api.get(f"/members/{boris.id}").json_body
    assert profile["friend_count"] == 2 and profile["mutual_friend_count"] == 1
    assert profile["relation"]["friends"] and profile["relation"]["may_post"]
    assert anna_api.post("/friend-requests", {"member_id": boris.id}).json_body[
        "code"] == "already_friends"

    assert anna_api.request("DELETE", f"/friends/{boris.id}").status_code == 204
    assert not Friendship.objects.filter(member__in=[anna, boris],
                                         friend__in=[anna, boris]).exists()
    assert anna_api.request("DELETE", f"/friends/{boris.id}").status_code == 404


def test_decline_cancel_and_crossing_requests() -> None:
    anna, anna_api = member_with_api("Anna")
    boris, boris_api = member_with_api("Boris")
    anna_api.post("/friend-requests", {"member_id": boris.id})
    assert boris_api.post(f"/friend-requests/{anna.id}/decline").status_code == 204
    assert boris_api.post(f"/friend-requests/{anna.id}/decline").status_code == 404
    anna_api.post("/friend-requests", {"member_id": boris.id})
    assert anna_api.request("DELETE", f"/friend-requests/{boris.id}").status_code == 204
    assert not FriendRequest.objects.exists()
    # Asking someone who already asked us makes us friends at once.
    anna_api.post("/friend-requests", {"member_id": boris.id})
    crossed = boris_api.post("/friend-requests", {"member_id": anna.id})
    assert crossed.status_code == 201 and crossed.json_body == {"friends": True}
    assert Friendship.objects.filter(member=anna, friend=boris).exists()


def test_friend_requests_to_oneself_or_a_banned_member_are_refused() -> None:
    anna, api = member_with_api("Anna")
    banned, _ = member_with_api("Spammer")
    Member.objects.filter(id=banned.id).update(status=Member.Status.BANNED)
    assert api.post("/friend-requests", {"member_id": anna.id}).json_body["code"] == "self"
    gone = api.post("/friend-requests", {"member_id": banned.id})
    assert gone.status_code == 404 and gone.json_body["code"] == "member_not_found"
    assert api.get(f"/members/{banned.id}").status_code == 404


def test_walls_owner_and_friends_post_others_are_refused_and_deletes() -> None:
    anna, anna_api = member_with_api("Anna")
    boris, boris_api = member_with_api("Boris")
    vera, vera_api = member_with_api("Vera")
    befriend(anna, boris)
    own = anna_api.post(f"/members/{anna.id}/wall", {"text": "Hello, my wall"})
    assert own.status_code == 201 and own.json_body["may_delete"]
    friend = boris_api.post(f"/members/{anna.id}/wall", {"text": "Hi Anna!"})
    assert friend.status_code == 201
    stranger = vera_api.post(f"/members/{anna.id}/wall", {"text": "Buy now"})
    assert stranger.status_code == 403 and stranger.json_body["code"] == "not_friends"
    empty = anna_api.post(f"/members/{anna.id}/wall", {"text": "   "})
    assert empty.status_code == 400 and empty.json_body["code"] == "empty"

    wall = vera_api.get(f"/members/{anna.id}/wall").json_body
    assert [post["text"] for post in wall["posts"]] == ["Hi Anna!", "Hello, my wall"]
    assert [post["author"]["display_name"] for post in wall["posts"]] == ["Boris", "Anna"]
    assert not any(post["may_delete"] for post in wall["posts"])

    # Neither a stranger nor the author of another post may delete; the wall's owner may.
    boris_post = friend.json_body["id"]
    assert vera_api.request("DELETE", f"/posts/{boris_post}").status_code == 403
    assert anna_api.request("DELETE", f"/posts/{boris_post}").status_code == 204
    assert boris_api.request("DELETE", f"/posts/{own.json_body['id']}").status_code == 403
    assert anna_api.request("DELETE", f"/posts/{boris_post}").status_code == 404
    # The author may delete their post on someone else's wall.
    again = boris_api.post(f"/members/{anna.id}/wall", {"text": "Again"}).json_body["id"]
    assert boris_api.request("DELETE", f"/posts/{again}").status_code == 204
    assert list(WallPost.objects.values_list("text", flat=True)) == ["Hello, my wall"]
    assert vera.id  # Vera saw the wall: it is open to everyone by default


def test_a_friends_only_wall_is_hidden_from_others() -> None:
    anna, anna_api = member_with_api("Anna")
    boris, boris_api = member_with_api("Boris")
    _vera, vera_api = member_with_api("Vera", language="ru")
    befriend(anna, boris)
    anna_api.request("PUT", "/profile", {"wall_audience": "friends"})
    anna_api.post(f"/members/{anna.id}/wall", {"text": "For friends"})
    assert boris_api.get(f"/members/{anna.id}/wall").json_body["posts"][0]["text"] == (
        "For friends")
    hidden = vera_api.get(f"/members/{anna.id}/wall")
    assert hidden.status_code == 403 and hidden.json_body["code"] == "wall_hidden"
    assert "только друзьям" in hidden.json_body["detail"]


def test_wall_pages_go_back_in_time_without_gaps_or_repeats() -> None:
    anna, api = member_with_api("Anna")
    WallPost.objects.bulk_create(
        [WallPost(wall_owner=anna, author=anna, text=f"post {index}") for index in range(45)]
    )
    seen: list[str] = []
    path = f"/members/{anna.id}/wall?limit=20"
    while True:
        page = api.get(path).json_body
        seen += [post["text"] for post in page["posts"]]
        if page["next_before"] is None:
            break
        path = f"/members/{anna.id}/wall?limit=20&before={page['next_before']}"
    assert seen == [f"post {index}" for index in reversed(range(45))]
    assert api.get(f"/members/{anna.id}/wall?limit=1000").status_code == 422


def test_messages_inbox_unread_counts_read_marks_and_pages() -> None:
    anna, anna_api = member_with_api("Anna")
    boris, boris_api = member_with_api("Boris")
    for index in range(3):
        sent = anna_api.post(f"/conversations/{boris.id}", {"text": f"hello {index}"})
        assert sent.status_code == 201, sent.json_body
        assert sent.json_body["mine"] and not sent.json_body["read"]
    inbox = boris_api.get("/conversations").json_body["items"]
    assert len(inbox) == 1
    assert inbox[0]["member"]["id"] == anna.id and inbox[0]["unread_count"] == 3
    assert inbox[0]["last_message"]["text"] == "hello 2" and not inbox[0]["last_message"]["mine"]
    assert anna_api.get("/conversations").json_body["items"][0]["unread_count"] == 0

    conversation = anna_api.get(f"/conversations/{boris.id}?limit=2").json_body
    assert [m["text"] for m in conversation["messages"]] == ["hello 2", "hello 1"]
    older = anna_api.get(
        f"/conversations/{boris.id}?limit=2&before={conversation['next_before']}").json_body
    assert [m["text"] for m in older["messages"]] == ["hello 0"]
    assert older["next_before"] is None
    assert not any(m["read"] for m in conversation["messages"])

    assert boris_api.post(f"/conversations/{anna.id}/read").json_body == {"marked_read": 3}
    assert boris_api.get("/conversations").json_body["items"][0]["unread_count"] == 0
    assert all(m["read"] for m in anna_api.get(f"/conversations/{boris.id}").json_body[
        "messages"])
    reply = boris_api.post(f"/conversations/{anna.id}", {"text": "hi"})
    assert reply.status_code == 201
    assert anna_api.get("/conversations").json_body["items"][0]["unread_count"] == 1
    assert Participant.objects.count() == 2 and Message.objects.count() == 4
    nobody, _ = member_with_api("Nobody")
    assert anna_api.post(f"/conversations/{nobody.id}/read").status_code == 404


def as_json(moment: datetime) -> str:
    return str(DjangoJSONEncoder().default(moment))


def test_inbox_pages_neither_repeat_nor_skip_when_a_message_arrives_between_pages(
    clock: FrozenClock,
) -> None:
    owner, owner_api = member_with_api("Owner")
    writers = [member_with_api(f"Writer {n:02d}") for n in range(45)]
    for index, (_writer, api) in enumerate(writers):
        if index % 3:  # some messages in the same microsecond: the id breaks the tie
            clock.advance(seconds=1)
        assert api.post(f"/conversations/{owner.id}", {"text": "hi"}).status_code == 201
    first = owner_api.get("/conversations?limit=20").json_body
    # A conversation of the third page and one of the second get a message meanwhile.
    for writer_api in (writers[0][1], writers[20][1]):
        clock.advance(seconds=1)
        assert writer_api.post(f"/conversations/{owner.id}", {"text": "again"}
                               ).status_code == 201
    listed = first["items"]
    cursor = first["next_before"]
    while cursor is not None:
        page = owner_api.get(f"/conversations?limit=20&before={cursor}").json_body
        listed += page["items"]
        cursor = page["next_before"]
    names = [row["member"]["display_name"] for row in listed]
    assert names == [f"Writer {n:02d}" for n in reversed(range(45)) if n not in (0, 20)]
    assert owner_api.get("/conversations").json_body["items"][0]["member"][
        "display_name"] == "Writer 20"
    for bad in ("12", "x-1", "-1-2", "1" * 17 + "-1"):
        assert owner_api.get(f"/conversations?before={bad}").status_code == 422
    assert owner_api.get(f"/conversations?before=1-{'9' * 19}").json_body["items"] == []


@pytest.mark.parametrize("cursor", ["\u0661-\u0661", "\uff11-\uff12", "1-\u0662"])
def test_an_inbox_cursor_of_other_digits_is_a_422(cursor: str) -> None:
    """An inbox cursor is ASCII digits, as a page writes it and as every other list's
    is: digits of another script are a cursor no page wrote (a 422), not a page."""
    _owner, api = member_with_api("Owner")
    answer = api.client.get("/api/conversations", {"before": cursor},
                            headers={"Authorization": f"Bearer {api.token}"})
    assert answer.status_code == 422, cursor
    assert answer.json()["field"] == "before"


def test_wall_and_inbox_rows_carry_every_field_as_stored() -> None:
    # These two pages are read with hand-written SQL (lib/queries.py): each field of a
    # row, timestamps with their zone and the author's avatar included, must be what
    # the models hold.
    anna, anna_api = member_with_api("Anna")
    boris, boris_api = member_with_api("Boris")
    befriend(anna, boris)
    avatar = _upload(boris_api, _jpeg_with_gps()).json()["member"]["avatar_url"]
    assert boris_api.post(f"/members/{anna.id}/wall", {"text": "Hello, Anna"}).status_code == 201
    assert anna_api.post(f"/members/{anna.id}/wall", {"text": "My own"}).status_code == 201
    post = WallPost.objects.get(text="Hello, Anna")
    wall = boris_api.get(f"/members/{anna.id}/wall").json_body
    assert wall["owner"] == {"id": anna.id, "display_name": "Anna", "avatar_url": None}
    assert wall["posts"][1] == {
        "id": post.id, "author": {"id": boris.id, "display_name": "Boris", "avatar_url": avatar},
        "text": "Hello, Anna", "created_at": as_json(post.created_at),
        "may_delete": True,
    }
    assert wall["posts"][0]["may_delete"] is False and wall["next_before"] is None

    assert anna_api.post(f"/conversations/{boris.id}", {"text": "Hi Boris"}).status_code == 201
    message = Message.objects.get()
    participant = Participant.objects.get(member=boris)
    assert boris_api.get("/conversations").json_body == {"items": [{
        "member": {"id": anna.id, "display_name": "Anna", "avatar_url": None},
        "unread_count": 1,
        "last_message": {"id": message.id, "mine": False, "text": "Hi Boris",
                         "created_at": as_json(message.created_at)},
        "last_message_at": as_json(participant.last_message_at),
    }], "next_before": None}
    anna_inbox = anna_api.get("/conversations").json_body["items"]
    assert anna_inbox[0]["member"]["avatar_url"] == avatar
    assert anna_inbox[0]["last_message"]["mine"] is True


def test_friends_only_messages_and_blocking() -> None:
    anna, anna_api = member_with_api("Anna")
    boris, boris_api = member_with_api("Boris")
    vera, vera_api = member_with_api("Vera")
    befriend(anna, boris)
    anna_api.request("PUT", "/profile", {"message_audience": "friends"})
    refused = vera_api.post(f"/conversations/{anna.id}", {"text": "hi"})
    assert refused.status_code == 403 and refused.json_body["code"] == (
        "messages_from_friends_only")
    assert boris_api.post(f"/conversations/{anna.id}", {"text": "hi"}).status_code == 201

    # Blocking ends the friendship; neither side may then write or post.
    assert anna_api.post("/blocks", {"member_id": boris.id}).status_code == 204
    assert not Friendship.objects.filter(member=anna, friend=boris).exists()
    for api, other in ((boris_api, anna), (anna_api, boris)):
        answer = api.post(f"/conversations/{other.id}", {"text": "still there?"})
        assert answer.status_code == 403 and answer.json_body["code"] == "blocked"
        assert api.post("/friend-requests", {"member_id": other.id}).json_body[
            "code"] == "blocked"
    assert boris_api.post(f"/members/{anna.id}/wall", {"text": "x"}).json_body[
        "code"] == "blocked"
    assert anna_api.get("/blocks").json_body["items"][0]["member"]["id"] == boris.id
    assert boris_api.get(f"/members/{anna.id}").json_body["relation"]["blocks_me"]
    assert anna_api.request("DELETE", f"/blocks/{boris.id}").status_code == 204
    assert anna_api.request("DELETE", f"/blocks/{boris.id}").status_code == 404
    assert vera.id


def test_quarantined_members_cannot_post_or_message() -> None:
    anna, anna_api = member_with_api("Anna")
    boris, _boris_api = member_with_api("Boris")
    Member.objects.filter(id=anna.id).update(status=Member.Status.QUARANTINED)
    for path in (f"/members/{anna.id}/wall", f"/conversations/{boris.id}"):
        answer = anna_api.post(path, {"text": "hello"})
        assert answer.status_code == 403 and answer.json_body["code"] == "quarantined"
    assert not WallPost.objects.exists() and not Message.objects.exists()


@pytest.mark.parametrize(("language", "words"), [
    ("en", "cannot post, send messages, change your profile or ask anyone to be friends"),
    ("ru", "менять профиль и добавлять кого-либо в друзья"),
])
def test_quarantined_members_cannot_change_their_profile_or_ask_to_be_friends(
    language: str, words: str
) -> None:
    anna, anna_api = member_with_api("Anna", language=language)
    boris, _boris_api = member_with_api("Boris")
    assert anna_api.request("PUT", "/profile", {"about": "Chess"}).status_code == 200
    Member.objects.filter(id=anna.id).update(status=Member.Status.QUARANTINED)
    refused = [
        anna_api.request("PUT", "/profile", {"about": "Cheap pills: cheap-pills.ru"}),
        _upload(anna_api, _jpeg_with_gps()),
        anna_api.post("/friend-requests", {"member_id": boris.id}),
    ]
    for answer in refused:
        body = answer.json()
        assert (answer.status_code, body["code"]) == (403, "quarantined"), body
        assert words in body["detail"]
    assert not FriendRequest.objects.exists() and not Notification.objects.filter(
        member=boris).exists()
    # What only closes their account stays open to them.
    closed = anna_api.request("PUT", "/profile", {
        "about": "Chess", "wall_audience": "friends", "message_audience": "friends"})
    assert closed.status_code == 200, closed.json_body
    assert closed.json_body["about"] == "Chess"
    assert anna_api.request("DELETE", "/profile/avatar").status_code == 200
    cleared = anna_api.request("PUT", "/profile", {"about": ""})
    assert cleared.status_code == 200 and cleared.json_body["about"] == ""
    # Someone else's request is theirs to answer, by accepting it or by asking back.
    do_send_friend_request(member=boris, recipient_id=anna.id)
    asked_back = anna_api.post("/friend-requests", {"member_id": boris.id})
    assert asked_back.status_code in (200, 201), asked_back.json_body
    assert Friendship.objects.filter(member=anna, friend=boris).exists()


@override_settings(NEW_MEMBER_PERIOD_DAYS=1)
@pytest.mark.parametrize(("language", "phrase"), [
    ("en", "in their first 1 day."), ("ru", "в первый 1 день на сайте."),
])
def test_a_new_member_period_of_one_day_says_day(
    clock: FrozenClock, language: str, phrase: str
) -> None:
    newcomer, api = member_with_api("Newcomer", joined_at=clock.current, language=language)
    refused = api.post(f"/members/{newcomer.id}/wall", {"text": "See pills.ru"})
    assert refused.json_body["code"] == "too_many_links"
    assert phrase in refused.json_body["detail"]


def test_new_members_post_few_posts_and_no_links(clock: FrozenClock) -> None:
    clock.current = clock.current.replace(minute=0, second=0)
    newcomer, api = member_with_api("Newcomer", joined_at=clock.current)
    veteran, veteran_api = member_with_api("Veteran")
    link = "Cheap pills at http://spam.example and pills.ru"
    refused = api.post(f"/members/{newcomer.id}/wall", {"text": link})
    assert refused.status_code == 403 and refused.json_body["code"] == "too_many_links"
    assert veteran_api.post(f"/members/{veteran.id}/wall", {"text": link}).status_code == 201
    with override_settings(RATE_LIMITS=production_settings.RATE_LIMITS):
        statuses = [api.post(f"/members/{newcomer.id}/wall", {"text": f"post {n}"}).status_code
                    for n in range(6)]
        assert statuses == [201] * 5 + [429]
        assert veteran_api.post(f"/members/{veteran.id}/wall", {"text": "6th"}
                                ).status_code == 201
        clock.advance(hours=1)
        assert api.post(f"/members/{newcomer.id}/wall", {"text": "later"}).status_code == 201
        # After the new-member period, links are fine.
        clock.advance(days=8)
        assert api.post(f"/members/{newcomer.id}/wall", {"text": link}).status_code == 201


@pytest.mark.parametrize(("text", "links"), [
    ("https://example.com", 1),
    ("My new blog: https://www.example.com/hello", 1),
    ("https://www.spam.com/redirect?to=other.com#top", 1),
    ("https://user@host.example:8080/x.com", 1),
    ("WWW.EXAMPLE.ORG and www.example", 2),
    ("cheap-pills.ru, pills.ru; пример.рф", 3),
    ("Cheap pills at http://spam.example and pills.ru", 2),
    ("(see spam.ru/page.html).", 1),
    ("e.g. this file.txt, www. and a.b.c", 0),
    # As readers see them: full-width letters and dots, an ideographic full stop, and
    # characters that draw nothing (which browsers also drop from an address).
    ("ｃｈｅａｐ．ｒｕ and ｈｔｔｐｓ：／／ｘ", 2),
    ("cheap\u3002ru", 1),
    ("cheap-pills\ufe0f.ru www\u034f.example", 2),
    # Under a country's second level, and internationalised names in their ASCII form.
    ("cheap-pills.co.uk, cheap-pills.com.au, spam.org.uk", 3),
    ("xn--e1afmkfd.xn--p1ai and cheap-pills.xn--p1ai", 2),
    # Default-ignorable code points that Unicode has not assigned draw nothing either.
    ("cheap-pills\u2065.ru cheap-pills\ufff0.ru cheap-pills\U000e0002.ru", 3),
    ("т.е. e.g. 3.14 Mr.Smith v3.40.1 ... и т.д.", 0),
])
def test_each_web_address_counts_as_one_link(text: str, links: int) -> None:
    assert count_links(text) == links


@override_settings(NEW_MEMBER_MAX_LINKS_PER_POST=1)
def test_a_new_member_allowed_one_link_may_post_one_link() -> None:
    newcomer, api = member_with_api("Newcomer", joined_at=clock.now())
    answer = api.post(f"/members/{newcomer.id}/wall",
                      {"text": "My new blog: https://www.example.com/hello"})
    assert answer.status_code == 201, answer.json_body
    refused = api.post(f"/members/{newcomer.id}/wall",
                       {"text": "https://www.example.com/hello and spam.ru"})
    assert refused.status_code == 403 and refused.json_body["code"] == "too_many_links"
    assert "at most 1 per post" in refused.json_body["detail"]


@pytest.mark.parametrize("invisible", ["\u200b", "\u00ad", "\u2060", "\ufeff", "\u200d"])
def test_an_invisible_character_hides_no_link_from_the_new_member_rule(invisible: str) -> None:
    # Readers see "cheap-pills.ru", and a browser opens cheap-pills.ru.
    newcomer, api = member_with_api("Newcomer", joined_at=clock.now())
    answer = api.post(f"/members/{newcomer.id}/wall",
                      {"text": f"Cheap pills at cheap-pills{invisible}.ru"})
    assert answer.status_code == 403, answer.json_body
    assert answer.json_body["code"] == "too_many_links"
    assert not WallPost.objects.exists()


@pytest.mark.parametrize("shape", ["a.", ".a", "a-", "a:", "a.ru/", "a.ru,", "://", "x\u200b."])
def test_counting_links_takes_time_linear_in_the_text(shape: str) -> None:
    # A 5,000-character post of each shape that made a pattern backtrack (the previous
    # one took seconds on "a.a.a.…"): a linear count takes a few milliseconds; the best
    # of three runs, so a busy machine cannot fail it.
    text = shape * (5000 // len(shape))
    timings = []
    for _attempt in range(3):
        started = time.perf_counter()
        count_links(text)
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.1, f"{min(timings):.3f} s for {shape!r} × {len(text) // len(shape)}"


def test_new_members_write_to_few_strangers_a_day_but_freely_to_friends(
    clock: FrozenClock,
) -> None:
    clock.current = clock.current.replace(hour=0, minute=0, second=0)
    newcomer, api = member_with_api("Newcomer", joined_at=clock.current)
    friend, _ = member_with_api("Friend")
    befriend(newcomer, friend)
    strangers = [member_with_api(f"Stranger {n}")[0] for n in range(11)]
    with override_settings(RATE_LIMITS=production_settings.RATE_LIMITS):
        statuses = [api.post(f"/conversations/{stranger.id}", {"text": "hi"}).status_code
                    for stranger in strangers]
        assert statuses == [201] * 10 + [429]
        limited = api.post(f"/conversations/{strangers[0].id}", {"text": "again"})
        assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
        assert api.post(f"/conversations/{friend.id}", {"text": "hi"}).status_code == 201
    assert Message.objects.filter(sender=newcomer).count() == 11


def test_find_by_phone_only_finds_members_who_allow_it() -> None:
    from tests.conftest import make_member

    _anna, api = member_with_api("Anna")
    hidden = make_member(phone="+79161230001", display_name="Hidden")
    shown = make_member(phone="+79161230002", display_name="Shown", joined_at=clock.now())
    from inviteonly.social.models import Profile

    Profile.objects.create(member=shown, findable_by_phone=True)
    missing = api.post("/find-by-phone", {"phone": "+79161230003"})
    not_findable = api.post("/find-by-phone", {"phone": "+7 916 123-00-01"})
    assert missing.status_code == not_findable.status_code == 404
    assert missing.json_body == not_findable.json_body
    found = api.post("/find-by-phone", {"phone": "8 916 123-00-02"})
    assert found.status_code == 200 and found.json_body["id"] == shown.id
    assert hidden.id != shown.id
    with override_settings(RATE_LIMITS={"find_by_phone": [("member", 2, 86400)]}):
        statuses = [api.post("/find-by-phone", {"phone": "+79161230002"}).status_code
                    for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_a_banned_members_posts_conversations_and_friendships_are_left_out() -> None:
    # Like their profile (404), a banned member's posts, conversations (with their
    # unread counts), friendships and friend requests are left out of everyone's
    # lists while the ban lasts; nothing is deleted, so lifting it brings them back.
    moderator = make_member(role=Member.Role.MODERATOR)
    owner, owner_api = member_with_api("Owner")
    reader, reader_api = member_with_api("Reader")
    spammer, spammer_api = member_with_api("Spammer")
    friend, friend_api = member_with_api("Friend")
    befriend(owner, spammer)
    befriend(reader, spammer)
    befriend(owner, friend)
    befriend(reader, friend)
    assert owner_api.post(f"/members/{owner.id}/wall", {"text": "my news"}).status_code == 201
    for index in range(3):
        assert spammer_api.post(f"/members/{owner.id}/wall",
                                {"text": f"buy pills {index}"}).status_code == 201
        assert spammer_api.post(f"/conversations/{owner.id}",
                                {"text": f"cheap pills {index}"}).status_code == 201
    assert friend_api.post(f"/conversations/{owner.id}", {"text": "tea?"}).status_code == 201
    stranger, stranger_api = member_with_api("Stranger")
    assert spammer_api.post("/friend-requests", {"member_id": stranger.id}).status_code == 201
    home = Client()
    home.force_login(stranger)

    def seen() -> dict[str, Any]:
        wall = reader_api.get(f"/members/{owner.id}/wall?limit=3").json_body
        profile = reader_api.get(f"/members/{owner.id}").json_body
        return {
            "wall": [post["text"] for post in wall["posts"]],
            "inbox": [(row["member"]["display_name"], row["unread_count"])
                      for row in owner_api.get("/conversations").json_body["items"]],
            "friends": names(owner_api.get("/friends").json_body["items"]),
            "their_friends": names(reader_api.get(f"/members/{owner.id}/friends")
                                   .json_body["items"]),
            "mutual": names(reader_api.get(f"/members/{owner.id}/mutual-friends")
                            .json_body["items"]),
            "counts": (profile["friend_count"], profile["mutual_friend_count"]),
            "requests": [row["member"]["display_name"]
                         for row in stranger_api.get("/friend-requests").json_body["incoming"]],
            # The notice of the request too, on the API and on the home page.
            "notices": [row["text"] for row in
                        stranger_api.get("/me/notifications").json_body["items"]],
            "home": "Spammer wants to be your friend." in home.get("/").content.decode(),
        }

    before = seen()
    assert before == {
        "wall": ["buy pills 2", "buy pills 1", "buy pills 0"],
        "inbox": [("Friend", 1), ("Spammer", 3)],
        "friends": ["Friend", "Spammer"], "their_friends": ["Friend", "Spammer"],
        "mutual": ["Friend", "Spammer"], "counts": (2, 2), "requests": ["Spammer"],
        "notices": ["Spammer wants to be your friend."], "home": True,
    }
    ban = do_ban_member(member=spammer, moderator=moderator, reason="spam", for_spam=True)
    assert seen() == {
        "wall": ["my news"], "inbox": [("Friend", 1)],
        "friends": ["Friend"], "their_friends": ["Friend"], "mutual": ["Friend"],
        "counts": (1, 1), "requests": [], "notices": [], "home": False,
    }
    assert owner_api.get(f"/conversations/{spammer.id}").status_code == 404
    do_lift_sanction(sanction_id=ban.id, moderator=moderator, reason="a mistake")
    assert seen() == before


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [row["member"]["display_name"] for row in rows]


def test_friend_requests_page_past_the_first_hundred() -> None:
    """Both lists, newest first: the first page of each, then ``next_before`` on its own
    list, until every request was listed once."""
    anna, api = member_with_api("Anna")
    others = [make_member(display_name=f"Other {n}") for n in range(105)]
    FriendRequest.objects.bulk_create(
        [FriendRequest(sender=other, recipient=anna) for other in others[:102]]
        + [FriendRequest(sender=anna, recipient=other) for other in others[102:]]
    )
    first = api.get("/friend-requests?limit=40")
    assert first.status_code == 200, first.json_body
    lists = first.json_body
    for direction, expected in (("incoming", others[:102]), ("outgoing", others[102:])):
        seen = [row["member"]["id"] for row in lists[direction]]
        cursor = lists[f"{direction}_next_before"]
        while cursor is not None:
            page = api.get(f"/friend-requests/{direction}?limit=40&before={cursor}").json_body
            seen += [row["member"]["id"] for row in page["items"]]
            cursor = page["next_before"]
        assert seen == [other.id for other in reversed(expected)], direction
        whole = api.get(f"/friend-requests/{direction}?limit=100").json_body
        assert len(whole["items"]) == min(len(expected), 100)
    assert len(api.get("/friend-requests").json_body["incoming"]) == 20  # SOCIAL_PAGE_SIZE
    assert api.get("/friend-requests?limit=1000").status_code == 422
    assert api.get("/friend-requests/incoming?before=0").status_code == 422


def test_blocks_page_neither_repeats_nor_skips_when_a_block_is_added_between_pages() -> None:
    """Newest first by ``next_before``: a member blocked between two pages goes to the
    top of the list, and does not push the last of the first page onto the next."""
    anna, api = member_with_api("Anna")
    others = [make_member(display_name=f"Other {n}") for n in range(5)]
    for other in others[:4]:
        do_block_member(member=anna, blocked_id=other.id)
    first = api.get("/blocks?limit=2")
    assert first.status_code == 200, first.json_body
    do_block_member(member=anna, blocked_id=others[4].id)
    seen = [row["member"]["id"] for row in first.json_body["items"]]
    cursor = first.json_body["next_before"]
    while cursor is not None:
        page = api.get(f"/blocks?limit=2&before={cursor}").json_body
        seen += [row["member"]["id"] for row in page["items"]]
        cursor = page["next_before"]
    assert seen == [other.id for other in reversed(others[:4])]
    assert [row["member"]["id"] for row in api.get("/blocks").json_body["items"]] == [
        other.id for other in reversed(others)]
    assert api.get("/blocks?before=0").status_code == 422


@pytest.mark.parametrize("path", ["/friends", "/members/{boris}/friends",
                                  "/members/{boris}/mutual-friends"])
def test_friend_lists_page_by_name_without_repeats_or_gaps(path: str) -> None:
    """By name, then id, with ``next_after``: a friend added before the cursor or one
    removed from the page already read, between two pages, neither repeats another nor
    pushes one past the next page. Names may hold the cursor's "-" and URL signs."""
    anna, api = member_with_api("Anna")
    boris = make_member(display_name="Boris")
    befriend(anna, boris)
    friends = [make_member(display_name=name)
               for name in ("C-1", "C-1", "D & E", "F?g=h", "G#1", "H", "I", "J")]
    for friend in friends:
        befriend(anna, friend)
        befriend(boris, friend)
    path = path.format(boris=boris.id)
    first = api.get(f"{path}?limit=3")
    assert first.status_code == 200, first.json_body
    newcomer = make_member(display_name="A")  # listed before the cursor: not shown now
    befriend(anna, newcomer)
    befriend(boris, newcomer)
    gone = first.json_body["items"][-1]["member"]["id"]
    Friendship.objects.filter(member_id=anna.id, friend_id=gone).delete()
    Friendship.objects.filter(member_id=boris.id, friend_id=gone).delete()
    seen = [row["member"]["id"] for row in first.json_body["items"]]
    cursor = first.json_body["next_after"]
    while cursor is not None:
        page = api.client.get(f"/api{path}", {"limit": 3, "after": cursor},
                              headers={"Authorization": f"Bearer {api.token}"}).json()
        seen += [row["member"]["id"] for row in page["items"]]
        cursor = page["next_after"]
    listed = [friend.id for friend in friends]
    if "mutual" not in path:  # each one's friend
        listed.insert(0, boris.id if path == "/friends" else anna.id)
    assert seen == listed
    assert api.get(f"{path}?after=nonsense").status_code == 422
    assert api.get(f"{path}?limit=0").status_code == 422


def test_a_friend_list_cursor_with_a_control_character_is_refused() -> None:
    """No name holds one; PostgreSQL cannot even compare a NUL: 422, not a 500."""
    anna, api = member_with_api("Anna")
    boris = make_member(display_name="Boris")
    befriend(anna, boris)
    for after in (f"{boris.id}-\x00", f"{boris.id}-A\x1fB", f"{boris.id}-\x7f"):
        answer = api.client.get("/api/friends", {"after": after},
                                headers={"Authorization": f"Bearer {api.token}"})
        assert answer.status_code == 422, after


def test_marking_a_conversation_read_up_to_what_was_shown_leaves_newer_messages_unread() -> None:
    """``?up_to=<the newest message shown>``: one that arrived since stays unread, and
    its sender sees it unread, as for notifications."""
    anna, anna_api = member_with_api("Anna")
    boris, boris_api = member_with_api("Boris")
    for text in ("one", "two"):
        anna_api.post(f"/conversations/{boris.id}", {"text": text})
    shown = boris_api.get(f"/conversations/{anna.id}").json_body["messages"]
    anna_api.post(f"/conversations/{boris.id}", {"text": "three"})
    marked = boris_api.post(f"/conversations/{anna.id}/read?up_to={shown[0]['id']}")
    assert marked.status_code == 200 and marked.json_body == {"marked_read": 2}
    assert boris_api.get("/conversations").json_body["items"][0]["unread_count"] == 1
    assert [(m["text"], m["read"]) for m in anna_api.get(
        f"/conversations/{boris.id}").json_body["messages"]] == [
        ("three", False), ("two", True), ("one", True)]
    # Again with the same bound: nothing more; past the newest: the rest.
    assert boris_api.post(f"/conversations/{anna.id}/read?up_to={shown[0]['id']}").json_body[
        "marked_read"] == 0
    assert boris_api.post(f"/conversations/{anna.id}/read?up_to=9999999").json_body[
        "marked_read"] == 1
    assert boris_api.get("/conversations").json_body["items"][0]["unread_count"] == 0
    assert boris_api.post(f"/conversations/{anna.id}/read?up_to=0").status_code == 422


def test_a_friend_request_taken_back_or_blocked_takes_its_unread_notice_with_it() -> None:
    """The notice "<name> wants to be your friend" of a request that is no more would
    send the reader to look for it; and asking, taking back and asking again would
    stack one notice per request. A notice already read stays, as do the others."""
    anna, anna_api = member_with_api("Anna")
    boris, boris_api = member_with_api("Boris")
    _vera, vera_api = member_with_api("Vera")

    def notices(api: Any) -> list[str]:
        return [row["text"] for row in api.get("/me/notifications").json_body["items"]]

    for _time in range(2):
        assert boris_api.post("/friend-requests", {"member_id": anna.id}).status_code == 201
        assert boris_api.request("DELETE", f"/friend-requests/{anna.id}").status_code == 204
    assert boris_api.post("/friend-requests", {"member_id": anna.id}).status_code == 201
    assert vera_api.post("/friend-requests", {"member_id": anna.id}).status_code == 201
    assert notices(anna_api) == ["Vera wants to be your friend.",
                                 "Boris wants to be your friend."]
    assert anna_api.post("/blocks", {"member_id": boris.id}).status_code == 204
    assert notices(anna_api) == ["Vera wants to be your friend."]
    # Read, then taken back: it stays, as history.
    assert anna_api.post("/me/notifications/read").json_body == {"marked_read": 1}
    assert vera_api.request("DELETE", f"/friend-requests/{anna.id}").status_code == 204
    assert notices(anna_api) == ["Vera wants to be your friend."]


def test_a_quarantined_members_relation_offers_no_post_or_message() -> None:
    """What the profile page offers, the API's relation says: a quarantined member may
    neither post on a friend's wall nor write to them (sending would be refused)."""
    founder = make_member(display_name="Founder", role=Member.Role.FOUNDER)
    anna, anna_api = member_with_api("Anna")
    boris, _ = member_with_api("Boris")
    befriend(anna, boris)
    relation = anna_api.get(f"/members/{boris.id}").json_body["relation"]
    assert relation["may_post"] and relation["may_message"]
    do_quarantine_member(member=anna, moderator=founder, reason="Spam links")
    for member_id in (boris.id, anna.id):
        relation = anna_api.get(f"/members/{member_id}").json_body["relation"]
        assert not relation["may_post"] and not relation["may_message"], member_id
    refused = anna_api.post(f"/conversations/{boris.id}", {"text": "hello"})
    assert refused.status_code == 403 and refused.json_body["code"] == "quarantined"


@pytest.mark.parametrize(("language", "hidden"), [
    ("en", "This member's page is not available to you."),
    ("ru", "Страница этого участника вам недоступна."),
])
def test_a_member_who_blocks_me_hides_their_about_text_and_friends(
    language: str, hidden: str
) -> None:
    """As on the pages: the blocked member reads the blocker's name and avatar only,
    and is refused their friend lists; the blocker still reads the blocked member's."""
    anna, anna_api = member_with_api("Anna", language=language)
    boris, boris_api = member_with_api("Boris", language=language)
    vera, _ = member_with_api("Vera")
    befriend(anna, vera)
    befriend(boris, vera)
    anna_api.request("PUT", "/profile", {"about": "Anna's secret hobbies"})
    boris_api.request("PUT", "/profile", {"about": "Boris's about text"})
    assert boris_api.get(f"/members/{anna.id}").json_body["about"] == "Anna's secret hobbies"
    assert anna_api.post("/blocks", {"member_id": boris.id}).status_code == 204

    profile = boris_api.get(f"/members/{anna.id}").json_body
    assert profile["member"]["display_name"] == "Anna"
    assert profile["relation"]["blocks_me"]
    assert (profile["about"], profile["friend_count"], profile["mutual_friend_count"]) == (
        None, None, None)
    for path in (f"/members/{anna.id}/friends", f"/members/{anna.id}/mutual-friends"):
        refused = boris_api.get(path)
        assert refused.status_code == 403, path
        assert refused.json_body["code"] == "profile_hidden", path
        assert refused.json_body["detail"] == hidden, path

    profile = anna_api.get(f"/members/{boris.id}").json_body
    assert profile["about"] == "Boris's about text" and profile["friend_count"] == 1
    assert profile["relation"]["blocked_by_me"]
    friends = anna_api.get(f"/members/{boris.id}/friends").json_body["items"]
    assert [row["member"]["id"] for row in friends] == [vera.id]
    # Their walls: the blocked member is told what the profile tells them; the blocker
    # that the block hides the wall (not that it is for friends only).
    refused = boris_api.get(f"/members/{anna.id}/wall")
    assert (refused.status_code, refused.json_body["code"]) == (403, "profile_hidden")
    refused = anna_api.get(f"/members/{boris.id}/wall")
    assert (refused.status_code, refused.json_body["code"]) == (403, "wall_hidden")
    assert refused.json_body["detail"] == BLOCKED_WALL[language]


def test_a_method_the_named_list_does_not_take_falls_to_the_member_route() -> None:
    """DELETE /friend-requests/incoming is, by the document, DELETE
    /friend-requests/{member_id} with a member id that is not one: it gets that
    operation's 422, as /friend-requests/abc does, not the list's 405."""
    _anna, api = member_with_api("Anna")
    boris, _boris_api = member_with_api("Boris")
    for path in ("/friend-requests/incoming", "/friend-requests/outgoing",
                 "/friend-requests/abc"):
        answer = api.request("DELETE", path)
        assert answer.status_code == 422, (path, answer.json_body)
        assert answer.json_body["code"] == "invalid_request"
        assert answer.json_body["field"] == "member_id"
    # The lists and the member routes still answer as before.
    api.post("/friend-requests", {"member_id": boris.id})
    assert api.get("/friend-requests/outgoing").json_body["items"][0]["member"]["id"] == boris.id
    assert api.request("DELETE", f"/friend-requests/{boris.id}").status_code == 204
    wrong = api.post("/friend-requests/incoming")
    assert wrong.status_code == 405 and wrong["Allow"] == "GET"
    assert wrong.json_body["code"] == "method_not_allowed"
    assert api.get(f"/friend-requests/{boris.id}").status_code == 405
