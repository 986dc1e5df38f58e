"""Notifications: listed newest first by id a page at a time (the API and the home
page), and marked read only as far as, and only what, the member was shown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from inviteonly.accounts.models import Member
from inviteonly.lib import clock
from inviteonly.notifications.actions import notify_member
from inviteonly.notifications.models import Notification, NotificationKind
from tests.social_helpers import member_with_api

pytestmark = pytest.mark.django_db


def signed_in(member: Member) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(member)
    return client


def _notices(member: Member, count: int) -> list[int]:
    """``count`` notices, their times out of step with their ids (a slower transaction's
    notice is written later than its time says); their ids, newest first."""
    now = clock.now()
    rows = Notification.objects.bulk_create(
        [
            Notification(
                member=member,
                kind=NotificationKind.WARNED,
                reason=f"notice {index}",
                created_at=now - timedelta(minutes=(index * 7) % count),
            )
            for index in range(count)
        ]
    )
    return sorted((row.id for row in rows), reverse=True)


def test_the_api_pages_notifications_newest_first_by_id_without_gaps_or_repeats() -> None:
    member, api = member_with_api("Anna")
    expected = _notices(member, 45)
    seen: list[int] = []
    path = "/me/notifications?limit=20"
    while True:
        page = api.get(path)
        assert page.status_code == 200, page.json_body
        seen += [notice["id"] for notice in page.json_body["items"]]
        if page.json_body["next_before"] is None:
            break
        path = f"/me/notifications?limit=20&before={page.json_body['next_before']}"
    assert seen == expected
    assert len(api.get("/me/notifications").json_body["items"]) == 20  # SOCIAL_PAGE_SIZE
    assert api.get("/me/notifications?limit=1000").status_code == 422
    assert api.get("/me/notifications?before=0").status_code == 422


def test_the_home_page_reaches_older_notifications() -> None:
    member = member_with_api("Anna")[0]
    expected = _notices(member, 45)
    client = signed_in(member)
    seen: list[int] = []
    path = "/"
    while path:
        page = client.get(path)
        shown = [notice.id for notice in page.context["notifications"]]
        seen += shown
        # The page's mark-read button carries the newest notice that page showed.
        assert f'name="up_to" value="{shown[0]}"' in page.content.decode()
        cursor = page.context["next_before"]
        assert not cursor or f'href="?before={cursor}"' in page.content.decode()
        path = f"/?before={cursor}" if cursor else ""
    assert seen == expected
    assert [n.id for n in client.get("/?before=nonsense").context["notifications"]] == (
        expected[:20]
    )


@pytest.mark.parametrize("page", [False, True])
def test_a_notice_of_a_slower_transaction_is_not_marked_read_unseen(page: bool) -> None:
    """A notice's id is drawn when its transaction writes it, not when it commits: one
    with a lower id than a notice already shown can appear after the list was read. The
    mark "read up to the newest shown" must leave it unread until it is listed."""
    member, api = member_with_api("Anna")
    client = signed_in(member)
    slower = notify_member(member, NotificationKind.PASSWORD_CHANGED)
    assert slower is not None
    shown = notify_member(member, NotificationKind.WARNED, reason="spam")
    assert shown is not None
    # The slower transaction has drawn its id but not committed yet: nobody sees it.
    Notification.objects.filter(id=slower.id).delete()
    if page:
        home = client.get("/").content.decode()
        assert f'name="up_to" value="{shown.id}"' in home
    else:
        listed = api.get("/me/notifications").json_body["items"]
        assert [notice["id"] for notice in listed] == [shown.id]
    # It commits now, below the newest shown.
    Notification.objects.create(id=slower.id, member=member, kind=NotificationKind.PASSWORD_CHANGED)
    if page:
        assert client.post("/notifications/read/", {"up_to": str(shown.id)}).status_code == 302
    else:
        marked = api.post(f"/me/notifications/read?up_to={shown.id}")
        assert marked.json_body == {"marked_read": 1}
        # Nor without a bound: only what was listed is marked.
        assert api.post("/me/notifications/read").json_body == {"marked_read": 0}
    unread = Notification.objects.filter(member=member, read_at__isnull=True)
    assert list(unread.values_list("id", flat=True)) == [slower.id]
    # Once listed, it is marked read like any other.
    if page:
        assert f'name="up_to" value="{shown.id}"' in client.get("/").content.decode()
        client.post("/notifications/read/", {"up_to": str(shown.id)})
    else:
        assert [notice["id"] for notice in api.get("/me/notifications").json_body["items"]] == [
            shown.id,
            slower.id,
        ]
        assert api.post(f"/me/notifications/read?up_to={shown.id}").json_body == {
            "marked_read": 1,
        }
    assert not unread.exists()


def test_the_page_marks_nothing_read_without_the_bound_of_what_it_showed() -> None:
    """The home page's form always sends ``up_to``; a post without it (a page from
    before, a forged form) cannot mark read a notice that came after the page."""
    member = member_with_api("Anna")[0]
    client = signed_in(member)
    shown = notify_member(member, NotificationKind.WARNED, reason="spam")
    assert shown is not None
    assert f'name="up_to" value="{shown.id}"' in client.get("/").content.decode()
    came_since = notify_member(member, NotificationKind.PHONE_CHANGED)
    assert came_since is not None
    assert client.get("/").status_code == 200  # listed, but this page was not posted
    for posted in ({}, {"up_to": ""}, {"up_to": "nonsense"}):
        assert client.post("/notifications/read/", posted).status_code == 302
        assert Notification.objects.filter(read_at__isnull=True).count() == 2
    client.post("/notifications/read/", {"up_to": str(shown.id)})
    unread = Notification.objects.filter(member=member, read_at__isnull=True)
    assert list(unread.values_list("id", flat=True)) == [came_since.id]


@pytest.mark.parametrize("page", [False, True])
def test_a_page_of_notifications_costs_the_same_for_2_and_20(page: bool) -> None:
    """Each notice's subject comes with it, and those shown for the first time are
    marked in one UPDATE: no query per notice, the first time or later."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.conftest import make_member

    counts = []
    for count in (2, 20):
        member, api = member_with_api(f"Reader of {count}")
        client = signed_in(member)
        for index in range(count):
            notify_member(
                member,
                NotificationKind.FRIEND_REQUEST,
                subject=make_member(display_name=f"Friend {index}"),
            )
        for _time in ("first", "again"):
            with CaptureQueriesContext(connection) as queries:
                if page:
                    assert client.get("/").status_code == 200
                else:
                    assert len(api.get("/me/notifications").json_body["items"]) == count
            counts.append((count, len(queries)))
        assert not Notification.objects.filter(member=member, shown_at__isnull=True).exists()
    assert [n for _count, n in counts[:2]] == [n for _count, n in counts[2:]], counts
