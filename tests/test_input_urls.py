"""Ids in page URLs are bounded like the API's (1…2**62): an id beyond what a database
integer holds is a plain 404, not an OverflowError from SQLite (500)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, reverse

from inviteonly import urls
from inviteonly.accounts.models import Member
from inviteonly.lib.converters import MAX_ROW_ID
from tests.conftest import make_member

pytestmark = pytest.mark.django_db

HUGE = 10**30
PLACEHOLDER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _page_routes() -> list[str]:
    return [str(pattern.pattern) for pattern in urls.urlpatterns
            if isinstance(pattern, URLPattern) and "<" in str(pattern.pattern)]


def _with(route: str, number: int) -> str:
    def value(match: re.Match[str]) -> str:
        converter, name = match.groups()
        if converter == "str":
            return "profile" if name == "target_kind" else "token"
        return str(number)

    return "/" + PLACEHOLDER.sub(value, route)


def test_every_id_in_the_page_urls_is_bounded() -> None:
    unbounded = [route for route in _page_routes() if "<int:" in route]
    assert not unbounded, f"ids without a bound (use <id:…>): {unbounded}"


@pytest.fixture
def moderator_client() -> Client:
    client = Client()
    client.force_login(make_member(display_name="Mona", role=Member.Role.MODERATOR))
    return client


@pytest.mark.parametrize("number", [HUGE, 2**63, MAX_ROW_ID + 1, 0])
@pytest.mark.parametrize("route", [route for route in _page_routes() if "_id>" in route])
def test_an_id_out_of_range_is_not_found(
    moderator_client: Client, route: str, number: int
) -> None:
    path = _with(route, number)
    assert moderator_client.get(path).status_code == 404, path
    assert moderator_client.post(path).status_code == 404, path


@pytest.mark.parametrize(
    "path",
    ["/members/{}/", "/members/{}/friends/", "/messages/{}/", "/report/profile/{}/"],
)
def test_the_largest_id_reaches_the_page(moderator_client: Client, path: str) -> None:
    answer = moderator_client.get(path.format(MAX_ROW_ID))
    # The page itself says there is no such member (or item): no converter refused it.
    assert answer.status_code == 404
    assert "social/refused.html" in [template.name for template in answer.templates]


def test_urls_are_not_built_for_ids_out_of_range() -> None:
    assert reverse("member_profile", args=[MAX_ROW_ID]) == f"/members/{MAX_ROW_ID}/"
    with pytest.raises(NoReverseMatch):
        reverse("member_profile", args=[MAX_ROW_ID + 1])
