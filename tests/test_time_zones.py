"""Times in the reader's time zone: a member's own choice (profile page, API), the
site's INVITEONLY_TIME_ZONE for members who chose none; stored and answered by the API
in UTC."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client, override_settings
from django.utils import formats, timezone, translation
from PIL import Image

from inviteonly.accounts.models import Member
from inviteonly.social.actions import do_set_avatar
from inviteonly.social.avatars import avatar_url
from tests.conftest import ApiClient, FrozenClock, SmsOutbox, make_member

MOSCOW = "Europe/Moscow"


def member_in(time_zone: str, *, language: str = "ru") -> Member:
    member = make_member(language=language)
    Member.objects.filter(pk=member.pk).update(time_zone=time_zone)
    member.refresh_from_db()
    return member


def sessions_page(member: Member) -> str:
    """The member's sessions page, which shows when their session started."""
    client = Client(HTTP_ACCEPT_LANGUAGE=member.language)
    client.force_login(member)
    page = client.get("/profile/sessions/")
    assert page.status_code == 200
    return page.content.decode()


@pytest.mark.django_db
def test_a_russian_member_in_moscow_sees_moscow_time_on_a_page(clock: FrozenClock) -> None:
    noon_utc = clock.advance(hours=12)
    html = sessions_page(member_in(MOSCOW))
    day = f"{noon_utc:%d.%m.%Y}"
    assert f"{day} 15:00" in html
    assert f"{day} 12:00" not in html
    # The thread's next request does not inherit the member's zone.
    assert timezone.get_current_timezone_name() == "UTC"


@pytest.mark.django_db
def test_a_member_who_chose_no_zone_sees_the_sites(clock: FrozenClock) -> None:
    noon_utc = clock.advance(hours=12)
    with override_settings(SITE_TIME_ZONE="Asia/Yekaterinburg"):  # UTC+5
        html = sessions_page(member_in(""))
    assert f"{noon_utc:%d.%m.%Y} 17:00" in html


@pytest.mark.django_db
def test_a_date_in_a_sentence_is_the_readers_day(
    founder: Member, sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    """Late in the evening UTC it is already tomorrow in Moscow: "valid until" names
    the day the reader lives in."""
    Member.objects.filter(pk=founder.pk).update(time_zone=MOSCOW)
    clock.advance(hours=22, minutes=30)
    api = ApiClient(language="ru")
    api.log_in("+79160000001")
    first = api.post("/invitations", {"phone": "+79161234567"})
    assert first.status_code == 201, first.json_body
    expires_at = datetime.fromisoformat(first.json_body["expires_at"])
    refused = api.post("/invitations", {"phone": "+79161234567"})
    assert refused.json_body["code"] == "invitation_pending"
    moscow_day = expires_at.astimezone(ZoneInfo(MOSCOW)).date()
    assert moscow_day != expires_at.astimezone(ZoneInfo("UTC")).date()
    with translation.override("ru"):
        assert formats.date_format(moscow_day, "DATE_FORMAT") in refused.json_body["detail"]


@pytest.mark.django_db
def test_the_profile_page_saves_a_zone_and_refuses_an_unknown_one() -> None:
    member = member_in("")
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    client.force_login(member)
    page = client.get("/profile/")
    assert '<option value="Europe/Moscow">Europe/Moscow</option>' in page.content.decode()
    assert client.post("/profile/time-zone/", {"time_zone": MOSCOW}).status_code == 302
    member.refresh_from_db()
    assert member.time_zone == MOSCOW
    assert 'value="Europe/Moscow" selected' in client.get("/profile/").content.decode()

    for bad in ("Mars/Olympus", "../../etc/passwd", "x" * 500):
        refused = client.post("/profile/time-zone/", {"time_zone": bad}, follow=True)
        assert "Выберите один из предложенных часовых поясов." in refused.content.decode()
        member.refresh_from_db()
        assert member.time_zone == MOSCOW

    client.post("/profile/time-zone/", {"time_zone": ""})
    member.refresh_from_db()
    assert member.time_zone == ""


@pytest.mark.django_db
@pytest.mark.parametrize("not_a_place", ["localtime", "Factory"])
def test_the_zones_offered_are_places(not_a_place: str) -> None:
    """The system's time zone data holds files that are not places: "localtime" (the
    server's own zone, whatever it is), "Factory" (shown as "-00") and "posixrules".
    The profile page offered them at the end of its list; they are no choice."""
    member = member_in("")
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    client.force_login(member)
    assert f'<option value="{not_a_place}"' not in client.get("/profile/").content.decode()
    refused = client.post("/profile/time-zone/", {"time_zone": not_a_place}, follow=True)
    assert "Выберите один из предложенных часовых поясов." in refused.content.decode()
    member.refresh_from_db()
    assert member.time_zone == ""


@pytest.mark.django_db
def test_the_api_sets_a_zone_and_refuses_an_unknown_one(founder: Member) -> None:
    api = ApiClient(language="ru")
    api.log_in("+79160000001")
    assert api.get("/me").json_body["time_zone"] == ""
    assert api.get("/site").json_body["time_zone"] == "UTC"
    chosen = api.request("PUT", "/me/time-zone", {"time_zone": MOSCOW})
    assert (chosen.status_code, chosen.json_body["time_zone"]) == (200, MOSCOW)

    refused = api.request("PUT", "/me/time-zone", {"time_zone": "Mars/Olympus"})
    assert refused.status_code == 400
    assert refused.json_body["code"] == "time_zone_unknown"
    assert refused.json_body["field"] == "time_zone"
    assert refused.json_body["detail"] == "Выберите один из предложенных часовых поясов."
    founder.refresh_from_db()
    assert founder.time_zone == MOSCOW


@pytest.mark.django_db
def test_the_api_answers_times_in_iso_8601_with_their_offset(
    founder: Member, clock: FrozenClock
) -> None:
    noon_utc = clock.advance(hours=12)
    Member.objects.filter(pk=founder.pk).update(time_zone=MOSCOW)
    api = ApiClient(language="ru")
    api.log_in("+79160000001")
    session = api.get("/me/sessions").json_body[0]
    started = datetime.fromisoformat(session["created_at"])
    assert started.utcoffset() is not None
    assert started == noon_utc



@pytest.mark.django_db
def test_the_api_refuses_a_name_too_long_for_any_zone(founder: Member) -> None:
    api = ApiClient(language="ru")
    api.log_in("+79160000001")
    refused = api.request("PUT", "/me/time-zone", {"time_zone": "Europe/" + "x" * 500})
    assert (refused.status_code, refused.json_body["field"]) == (422, "time_zone")
    assert "64" in refused.json_body["detail"]
    founder.refresh_from_db()
    assert founder.time_zone == ""


@pytest.mark.django_db
def test_an_avatar_costs_no_query_for_the_viewers_time_zone(
    django_assert_num_queries: Any,
) -> None:
    """A page's avatars come with the session's cookie; they show no time, so the
    member is not read for them."""
    owner = make_member()
    picture = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(picture, "PNG")
    profile = do_set_avatar(member=owner, data=picture.getvalue())
    url = avatar_url(profile)
    assert url is not None
    viewer = Client()
    viewer.force_login(member_in(MOSCOW))
    with django_assert_num_queries(0):
        fetched = viewer.get(url)
    assert fetched.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "heading", "label"), [
    ("en", "Time zone", "Show dates and times in"),
    ("ru", "Часовой пояс", "Показывать даты и время в поясе"),
])
def test_the_time_zone_field_says_what_it_sets(language: str, heading: str, label: str) -> None:
    """The section's heading and its field's label both said "Time zone"."""
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(member_in("", language=language))
    page = client.get("/profile/").content.decode()
    assert f"<h2>{heading}</h2>" in page
    assert f'<label for="id_time_zone">{label}</label>' in page
