"""No query per item: every social list (pages and API) costs the same number of
queries for 2 items as for 20."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from inviteonly.accounts.models import Member
from inviteonly.accounts.sessions import session_and_member
from inviteonly.social.actions import do_send_message
from inviteonly.social.models import FriendRequest, Profile, WallPost
from inviteonly.social.rules import access_member, profile_of
from tests.conftest import assert_read_like_the_orm, make_member
from tests.social_helpers import SETTLED, befriend, member_with_api

pytestmark = pytest.mark.django_db

# Each builder gets the viewer and a count; it makes that many items of its list
# (each item by a different member, with an avatar, so that nothing can be shared)
# and returns the path to read.
Builder = Callable[[Member, int], str]


def _others(count: int) -> list[Member]:
    from inviteonly.lib import clock

    members = [make_member(display_name=f"Other {n}", joined_at=clock.now() - SETTLED)
               for n in range(count)]
    Profile.objects.bulk_create([Profile(member=m, avatar=f"{'a' * 20}{m.id}.jpg")
                                 for m in members])
    return members


def wall(viewer: Member, count: int) -> str:
    authors = _others(count)
    for author in authors:
        befriend(viewer, author)
    WallPost.objects.bulk_create([WallPost(wall_owner=viewer, author=author, text="hi")
                                  for author in authors])
    return f"members/{viewer.id}/wall"


def inbox(viewer: Member, count: int) -> str:
    for other in _others(count):
        do_send_message(sender=other, recipient_id=viewer.id, text="hello")
    return "conversations"


def conversation(viewer: Member, count: int) -> str:
    other = _others(1)[0]
    for index in range(count):
        sender, recipient = (other, viewer) if index % 2 else (viewer, other)
        do_send_message(sender=sender, recipient_id=recipient.id, text=f"message {index}")
    return f"conversations/{other.id}"


def friends(viewer: Member, count: int) -> str:
    for other in _others(count):
        befriend(viewer, other)
    return "friends"


def mutual_friends(viewer: Member, count: int) -> str:
    someone = _others(1)[0]
    for other in _others(count):
        befriend(viewer, other)
        befriend(someone, other)
    return f"members/{someone.id}/mutual-friends"


def friend_requests(viewer: Member, count: int) -> str:
    FriendRequest.objects.bulk_create([FriendRequest(sender=other, recipient=viewer)
                                       for other in _others(count)])
    return "friend-requests"


def _status(client: Any, path: str) -> int:
    return int(client.get(path).status_code)


def _count(client_get: Callable[[], int]) -> int:
    with CaptureQueriesContext(connection) as queries:
        status = client_get()
    assert status == 200
    return len(queries)


@pytest.mark.parametrize("builder", [wall, inbox, conversation, friends, mutual_friends,
                                     friend_requests])
def test_api_lists_cost_the_same_for_2_and_20_items(builder: Builder) -> None:
    counts = []
    for items in (2, 20):
        viewer, api = member_with_api(f"Viewer of {items}")
        path = builder(viewer, items)
        answer = api.get(f"/{path}")
        assert answer.status_code == 200, answer.json_body
        listed = answer.json_body
        shown = (listed.get("posts") or listed.get("messages") or listed.get("items")
                 or listed.get("incoming")) if isinstance(listed, dict) else listed
        assert shown is not None and len(shown) == items
        counts.append(_count(partial(_status, api, f"/{path}")))
    assert counts[0] == counts[1], counts


AVATAR = 'class="avatar"'
# The list, the page that shows it, and what each item shows on that page.
PAGES: list[tuple[Builder, Callable[[Member, str], str], str]] = [
    (wall, lambda viewer, path: f"/members/{viewer.id}/", AVATAR),
    (inbox, lambda viewer, path: "/messages/", AVATAR),
    (conversation, lambda viewer, path: f"/messages/{path.rsplit('/', 1)[1]}/",
     'data-testid="message"'),
    (friends, lambda viewer, path: "/friends/", AVATAR),
    (friend_requests, lambda viewer, path: "/friends/", AVATAR),
    (mutual_friends, lambda viewer, path:
        f"/members/{path.split('/')[1]}/friends/?mutual=1", AVATAR),
]


@pytest.mark.parametrize(("builder", "page", "item"), PAGES,
                         ids=["wall", "inbox", "conversation", "friends", "requests", "mutual"])
def test_pages_cost_the_same_for_2_and_20_items(
    builder: Builder, page: Callable[[Member, str], str], item: str
) -> None:
    counts = []
    for items in (2, 20):
        viewer = make_member(display_name=f"Viewer of {items}")
        url = page(viewer, builder(viewer, items))
        client = Client()
        client.force_login(viewer)
        answer = client.get(url)
        assert answer.status_code == 200
        assert answer.content.decode().count(item) == items
        counts.append(_count(partial(_status, client, url)))
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("with_profile", [True, False])
def test_members_read_with_hand_written_sql_are_the_orms(with_profile: bool) -> None:
    # access_member and the bearer's session read members through lib/queries.py's
    # fetch_model: every field must come back as the ORM gives it, type included
    # (SQLite stores booleans as 0/1 and datetimes without their zone).
    inviter = make_member(display_name="Inviter")
    member, api = member_with_api("Anna")
    Member.objects.filter(id=member.id).update(invited_by=inviter, hidden_from_public_tree=True)
    if with_profile:
        Profile.objects.create(member=member, about="Chess", findable_by_phone=True)
    orm = Member.objects.select_related("profile").get(id=member.id)
    by_id = access_member(member.id)
    assert api.token is not None
    _session, by_session = session_and_member(api.token)
    assert by_session is not None
    for read in (by_id, by_session):
        assert_read_like_the_orm(read, orm)
        assert not read._state.adding
    if with_profile:
        assert_read_like_the_orm(by_id.profile, orm.profile)
    else:
        with CaptureQueriesContext(connection) as captured:
            assert profile_of(by_id)._state.adding  # the unsaved defaults, without a query
        assert captured.captured_queries == []
