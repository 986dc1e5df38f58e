"""The social pages in Russian and English: befriending, posting on walls, messaging,
editing the profile, finding by phone, blocking; refusals shown in the reader's
language."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils.html import escape
from PIL import Image

from inviteonly.accounts.models import Member
from inviteonly.lib import clock
from inviteonly.moderation.actions import (
    do_ban_member,
    do_lift_sanction,
    do_quarantine_member,
)
from inviteonly.moderation.models import Sanction
from inviteonly.social.models import (
    Block,
    FriendRequest,
    Friendship,
    Message,
    Participant,
    Profile,
    WallPost,
)
from tests.conftest import FrozenClock, make_member
from tests.social_helpers import BLOCKED_WALL, SETTLED, befriend

pytestmark = pytest.mark.django_db


def signed_in(member: Member, language: str) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(member)
    return client


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", {"add": "Add to friends", "accept": "Accept friend request",
                "friends": "You are friends.", "new": "1 new", "read": "read"}),
        ("ru", {"add": "Добавить в друзья", "accept": "Принять заявку в друзья",
                "friends": "Вы друзья.", "new": "1 новое", "read": "прочитано"}),
    ],
)
def test_two_members_befriend_post_and_message_through_the_pages(
    language: str, words: dict[str, str]
) -> None:
    anna = make_member(display_name="Anna", language=language)
    boris = make_member(display_name="Boris", language=language)
    as_anna, as_boris = signed_in(anna, language), signed_in(boris, language)

    assert words["add"] in as_anna.get(f"/members/{boris.id}/").content.decode()
    as_anna.post(f"/members/{boris.id}/befriend")
    assert words["accept"] in as_boris.get(f"/members/{anna.id}/").content.decode()
    assert "Anna" in as_boris.get("/friends/").content.decode()
    as_boris.post(f"/members/{anna.id}/accept")
    assert words["friends"] in as_anna.get(f"/members/{boris.id}/").content.decode()

    as_anna.post(f"/members/{boris.id}/post", {"text": "Happy birthday, Boris!"})
    as_boris.post(f"/members/{boris.id}/post", {"text": "Thanks everyone"})
    wall = as_boris.get(f"/members/{boris.id}/").content.decode()
    assert wall.index("Thanks everyone") < wall.index("Happy birthday, Boris!")

    sent = as_anna.post(f"/messages/{boris.id}/", {"text": "Coffee tomorrow?"})
    assert sent.status_code == 302
    inbox = as_boris.get("/messages/").content.decode()
    assert "Coffee tomorrow?" in inbox and words["new"] in inbox
    as_boris.post(f"/messages/{anna.id}/read")
    assert Participant.objects.get(member=boris).unread_count == 0
    assert words["read"] in as_anna.get(f"/messages/{boris.id}/").content.decode()

    post = WallPost.objects.get(author=anna)
    as_boris.post(f"/posts/{post.id}/delete")
    assert not WallPost.objects.filter(id=post.id).exists()


def test_refusals_show_on_the_page_in_russian() -> None:
    anna = make_member(display_name="Anna", language="ru")
    vera = make_member(display_name="Vera", language="ru")
    as_vera = signed_in(vera, "ru")
    answer = as_vera.post(f"/members/{anna.id}/post", {"text": "Привет"}, follow=True)
    assert "Писать на этой стене могут только друзья." in answer.content.decode()
    assert not WallPost.objects.exists()
    WallPost.objects.create(wall_owner=anna, author=anna, text="Только для своих")
    assert "Только для своих" in as_vera.get(f"/members/{anna.id}/").content.decode()
    Profile.objects.create(member=anna, message_audience="friends", wall_audience="friends")
    page = as_vera.get(f"/members/{anna.id}/").content.decode()
    assert "только друзьям" in page and "Написать сообщение" not in page
    assert "Только для своих" not in page
    refused = as_vera.post(f"/messages/{anna.id}/", {"text": "Привет"})
    assert "только от друзей" in refused.content.decode()
    assert not Message.objects.exists()
    assert as_vera.get("/members/999999/").status_code == 404


@pytest.mark.parametrize(("language", "too_long", "empty"), [
    ("en", "This text is too long: at most 5000 characters.", "Write something first."),
    ("ru", "Текст слишком длинный: не больше 5000 символов.", "Сначала напишите что-нибудь."),
])
def test_a_post_on_the_page_is_refused_for_what_is_wrong_with_it(
    language: str, too_long: str, empty: str
) -> None:
    anna = make_member(display_name="Anna", language=language)
    as_anna = signed_in(anna, language)
    # Nothing typed: the wall, with a notice at its top.
    page = as_anna.post(f"/members/{anna.id}/post", {"text": ""}, follow=True)
    assert [str(message) for message in page.context["messages"]] == [empty]
    # Something to fix: by its field, as on every form.
    for text, refusal in (("x" * 5001, too_long), ("\u200b", empty)):
        page = as_anna.post(f"/members/{anna.id}/post", {"text": text}, follow=True)
        assert list(page.context["messages"]) == []
        assert_refused_by_the_field(page.content.decode(), refusal)
    assert not WallPost.objects.exists()


def assert_refused_by_the_field(html: str, refusal: str) -> None:
    """The refusal is the wall box's error: under it, read out with it, and the box has
    the focus (the browser opens the page there); once, not also at the top."""
    assert re.search(r'<span class="error" role="alert" id="id_text_error"[^>]*>'
                     + re.escape(refusal), html), html
    [box] = re.findall(r"<textarea[^>]*>", html)
    assert 'aria-describedby="id_text_error"' in box and " autofocus" in box
    assert html.count(refusal) == 1


@pytest.mark.parametrize(("language", "refusal", "label"), [
    ("en", "New members cannot post links", "Write on the wall"),
    ("ru", "Новые участники пока не могут публиковать", "Написать на стене"),
])
def test_a_refused_post_keeps_what_was_written(language: str, refusal: str, label: str) -> None:
    """A newcomer whose post is refused (a link, too many posts) gets the wall back with
    their text still in the box, to fix and send — not an empty box."""
    anna = make_member(display_name="Anna", language=language)  # joined today: new
    boris = make_member(display_name="Boris", joined_at=clock.now() - SETTLED)
    WallPost.objects.create(wall_owner=anna, author=boris, text="Welcome, Anna!")
    text = "A long story about my first week here, and where I was: see holiday.example.com"
    answer = signed_in(anna, language).post(f"/members/{anna.id}/post", {"text": text},
                                            follow=True)
    html = answer.content.decode()
    [shown] = re.findall(r'id="id_text_error"[^>]*>([^<]*)<', html)
    assert_refused_by_the_field(html, shown)
    assert refusal in shown
    assert re.search(r"<textarea[^>]*>\s*" + re.escape(text) + r"</textarea>", html)
    assert re.search(r'<label for="id_text"[^>]*>' + label + "</label>", html)
    # Its links and forms lead where the wall's do, not to the address it was posted to.
    assert f"/members/{anna.id}/post" not in html.replace(
        f'action="/members/{anna.id}/post"', "")
    assert "Welcome, Anna!" in html
    assert not WallPost.objects.filter(author=anna).exists()


# 4,599 characters in 460 lines: what a textarea of maxlength 5000 takes (a line break
# is one character to it), and the API too; the browser sends 5,058, with CRLF.
LINES = ["x" * 9] * 460


def test_a_post_the_textarea_takes_is_not_refused_for_its_line_breaks() -> None:
    anna = make_member(display_name="Anna")
    page = signed_in(anna, "en").post(f"/members/{anna.id}/post",
                                      {"text": "\r\n".join(LINES)}, follow=True)
    assert [str(message) for message in page.context["messages"]] == []
    assert WallPost.objects.get().text == "\n".join(LINES)


def test_a_message_the_textarea_takes_is_not_refused_for_its_line_breaks() -> None:
    anna = make_member(display_name="Anna")
    boris = make_member(display_name="Boris")
    as_anna = signed_in(anna, "en")
    page = as_anna.get(f"/messages/{boris.id}/").content.decode()
    assert f'maxlength="{settings.MESSAGE_MAX_LENGTH}"' in page
    answer = as_anna.post(f"/messages/{boris.id}/", {"text": "\r\n".join(LINES)})
    assert answer.status_code == 302, answer.context["form"].errors
    assert Message.objects.get().text == "\n".join(LINES)


@override_settings(MESSAGE_MAX_LENGTH=20)
def test_a_message_on_the_page_is_held_to_the_message_limit() -> None:
    anna = make_member(display_name="Anna")
    boris = make_member(display_name="Boris")
    as_anna = signed_in(anna, "en")
    answer = as_anna.post(f"/messages/{boris.id}/", {"text": "x" * 21})
    assert answer.context["form"].errors["text"] == [
        "This text is too long: at most 20 characters."]
    assert not Message.objects.exists()


def test_an_about_text_the_textarea_takes_is_not_refused_for_its_line_breaks() -> None:
    anna = make_member(display_name="Anna")
    about = ["x" * 9] * 95  # 949 characters of the 1,000; 1,043 with CRLF
    answer = signed_in(anna, "en").post("/profile/", {
        "about": "\r\n".join(about), "wall_audience": "everyone",
        "message_audience": "everyone",
    })
    assert answer.status_code == 302, answer.context["form"].errors
    assert Profile.objects.get(member=anna).about == "\n".join(about)


@override_settings(SOCIAL_PAGE_SIZE=3)
def test_inbox_pages_neither_repeat_nor_skip_when_a_message_arrives_between_pages(
    clock: FrozenClock,
) -> None:
    owner = make_member(display_name="Owner")
    writers = [make_member(display_name=f"Writer {n}") for n in range(7)]
    for writer in writers:
        clock.advance(seconds=1)
        assert signed_in(writer, "en").post(f"/messages/{owner.id}/", {"text": "hi"}
                                            ).status_code == 302
    as_owner = signed_in(owner, "en")
    listed: list[str] = []
    path = "/messages/"
    while path:
        page = as_owner.get(path)
        listed += [row.other.display_name for row in page.context["rows"]]
        if len(listed) == 3:  # the oldest conversation gets a message meanwhile
            clock.advance(seconds=1)
            signed_in(writers[0], "en").post(f"/messages/{owner.id}/", {"text": "again"})
        cursor = page.context["next_before"]
        assert not cursor or f'href="?before={cursor}"' in page.content.decode()
        path = f"/messages/?before={cursor}" if cursor else ""
    assert listed == [f"Writer {n}" for n in (6, 5, 4, 3, 2, 1)]
    assert as_owner.get("/messages/?before=nonsense").context["rows"][0].other == writers[0]


@pytest.mark.parametrize("cursor", ["\u0661-\u0661", "\uff11-\uff12", "1-2\n"])
def test_an_inbox_cursor_no_page_wrote_is_the_first_page(cursor: str) -> None:
    """Digits of another script, or a line break after the cursor, were read as a
    cursor: an empty inbox instead of its first page."""
    owner, writer = make_member(display_name="Owner"), make_member(display_name="Writer")
    assert signed_in(writer, "en").post(f"/messages/{owner.id}/", {"text": "hi"}
                                        ).status_code == 302
    page = signed_in(owner, "en").get("/messages/", {"before": cursor})
    assert [row.other for row in page.context["rows"]] == [writer]


def test_editing_the_profile_uploading_an_avatar_and_being_found_by_phone() -> None:
    anna = make_member(display_name="Anna", phone="+79161239999")
    boris = make_member(display_name="Boris")
    as_anna, as_boris = signed_in(anna, "en"), signed_in(boris, "en")
    saved = as_anna.post("/profile/", {"about": "Chess", "wall_audience": "everyone",
                                       "message_audience": "friends",
                                       "findable_by_phone": "on"}, follow=True)
    assert "Your profile was saved." in saved.content.decode()
    picture = io.BytesIO()
    Image.new("RGB", (50, 80), "blue").save(picture, format="PNG")
    picture.name = "me.png"
    picture.seek(0)
    as_anna.post("/profile/avatar", {"avatar": picture})
    profile = Profile.objects.get(member=anna)
    assert profile.about == "Chess" and profile.findable_by_phone and profile.avatar
    page = as_boris.get(f"/members/{anna.id}/").content.decode()
    assert f"/media/avatars/{profile.avatar}" in page
    found = as_boris.post("/friends/", {"phone": "+7 916 123-99-99"})
    assert found.status_code == 302 and found["Location"] == f"/members/{anna.id}/"
    missing = as_boris.post("/friends/", {"phone": "+7 916 123-99-98"})
    assert "Nobody can be found by this number." in missing.content.decode()


def test_blocking_from_the_profile_ends_the_friendship() -> None:
    anna = make_member(display_name="Anna")
    boris = make_member(display_name="Boris")
    befriend(anna, boris)
    as_anna = signed_in(anna, "en")
    as_anna.post(f"/members/{boris.id}/block")
    assert Block.objects.filter(blocker=anna, blocked=boris).exists()
    assert not Friendship.objects.exists()
    assert "Unblock" in as_anna.get("/friends/").content.decode()
    as_anna.post(f"/members/{boris.id}/unblock")
    assert not Block.objects.exists()


def test_pages_need_a_login_and_state_changes_need_a_post() -> None:
    anna = make_member(display_name="Anna")
    for path in ("/friends/", "/messages/", "/profile/", f"/members/{anna.id}/"):
        assert Client().get(path).status_code == 302
    assert signed_in(anna, "en").get(f"/members/{anna.id}/befriend").status_code == 405
    assert Client().get("/media/avatars/..%2Fkeys.json").status_code == 404


def test_a_banned_members_posts_conversations_and_friendships_leave_the_pages() -> None:
    moderator = make_member(role=Member.Role.MODERATOR)
    owner = make_member(display_name="Owner")
    spammer = make_member(display_name="Spammer Sam", joined_at=clock.now() - SETTLED)
    befriend(owner, spammer)
    as_owner, as_spammer = signed_in(owner, "en"), signed_in(spammer, "en")
    as_spammer.post(f"/members/{owner.id}/post", {"text": "Buy pills at cheap.example"})
    as_spammer.post(f"/messages/{owner.id}/", {"text": "Cheap pills for you"})
    assert WallPost.objects.filter(author=spammer).exists()
    assert Message.objects.filter(sender=spammer).exists()
    pages = ("/members/{owner}/", "/friends/", "/messages/", "/members/{owner}/friends/")

    def shown() -> list[bool]:
        return [any(text in as_owner.get(page.format(owner=owner.id)).content.decode()
                    for text in ("Spammer Sam", "pills"))
                for page in pages]

    assert shown() == [True, True, True, True]
    ban = do_ban_member(member=spammer, moderator=moderator, reason="spam", for_spam=True)
    assert shown() == [False, False, False, False]
    do_lift_sanction(sanction_id=ban.id, moderator=moderator, reason="a mistake")
    assert shown() == [True, True, True, True]


@pytest.mark.parametrize(
    ("next_value", "location"),
    [
        ("/members/", "/members/"),
        ("x", None),  # a bare word: redirect() would take it for a URL pattern's name
        ("logout", None),
        ("https://elsewhere.example/", None),
        ("//elsewhere.example/", None),
    ],
)
def test_a_form_goes_back_only_to_a_path_on_this_site(
    next_value: str, location: str | None
) -> None:
    anna = make_member(display_name="Anna")
    boris = make_member(display_name="Boris")
    answer = signed_in(anna, "en").post(f"/members/{boris.id}/block", {"next": next_value})
    assert answer.status_code == 302
    assert answer["Location"] == (location or f"/members/{boris.id}/")
    assert Block.objects.filter(blocker=anna, blocked=boris).exists()


@pytest.mark.parametrize(("language", "label"), [("en", "Choose a picture"),
                                                 ("ru", "Выберите картинку")])
def test_the_avatar_field_has_a_label_and_its_help_is_read_with_it(
    language: str, label: str
) -> None:
    from tests.test_pages import Elements

    anna = make_member(display_name="Anna", language=language)
    html = signed_in(anna, language).get("/profile/").content.decode()
    page = Elements(html)
    avatar = next(found for tag, found in page.elements
                  if tag == "input" and found.get("name") == "avatar")
    assert re.search(f'<label for="{avatar["id"]}">{label}</label>', html)
    [help_id] = page.described_by(avatar["id"])
    assert "JPEG" in page.text_of[help_id]


@pytest.mark.parametrize(("name", "cursor", "testid"), [
    ("incoming", "incoming_before", "incoming-requests"),
    ("outgoing", "outgoing_before", "outgoing-requests"),
    ("blocked", "blocked_before", "blocked-members"),
])
def test_the_friends_page_reaches_every_request_and_block(
    name: str, cursor: str, testid: str
) -> None:
    """Past the first hundred too: each list has its own "More" link, newest first."""
    anna = make_member(display_name="Anna")
    others = [make_member(display_name=f"Other {n}") for n in range(103)]
    if name == "incoming":
        FriendRequest.objects.bulk_create(
            [FriendRequest(sender=other, recipient=anna) for other in others])
    elif name == "outgoing":
        FriendRequest.objects.bulk_create(
            [FriendRequest(sender=anna, recipient=other) for other in others])
    else:
        Block.objects.bulk_create([Block(blocker=anna, blocked=other) for other in others])
    client = signed_in(anna, "en")
    seen: list[int] = []
    path = "/friends/"
    while path:
        page = client.get(path)
        rows = page.context[name]
        assert 0 < len(rows) <= settings.SOCIAL_PAGE_SIZE
        assert f'data-testid="{testid}"' in page.content.decode()
        seen += [row.blocked_id if name == "blocked" else
                 row.sender_id if name == "incoming" else row.recipient_id for row in rows]
        after = page.context[f"{name}_next_before"]
        assert not after or f'href="?{cursor}={after}"' in page.content.decode()
        path = f"/friends/?{cursor}={after}" if after else ""
    assert seen == [other.id for other in reversed(others)]
    assert len(client.get(f"/friends/?{cursor}=nonsense").context[name]) == (
        settings.SOCIAL_PAGE_SIZE
    )


@pytest.mark.parametrize(("language", "heading"), [
    ("en", "Not available"), ("ru", "Недоступно"),
])
def test_a_refused_page_has_a_heading(language: str, heading: str) -> None:
    """A profile, conversation or report form that is refused was a page without a
    heading: a screen reader's list of headings was empty, and on a phone one line of
    red text under the header was the whole page."""
    anna = make_member(display_name="Anna", language=language)
    as_anna = signed_in(anna, language)
    for path in ("/members/999999/", "/messages/999999/", "/report/profile/999999/"):
        html = as_anna.get(path).content.decode()
        assert re.findall(r"<h1>([^<]*)</h1>", html) == [heading], path
        assert f"<title>{heading} · " in html


def test_the_language_switch_keeps_the_wall_page_being_read() -> None:
    """On an older page of a wall (?before=…) the language switch led back to the
    wall's first page; after a refused post it leads to the wall, not to the address
    the post was sent to (which takes no GET)."""
    anna = make_member(display_name="Anna")
    as_anna = signed_in(anna, "en")
    older = f"/members/{anna.id}/?before=12"
    html = as_anna.get(older).content.decode()
    assert re.findall(r'name="next" value="([^"]*)"', html)[0] == older
    switched = as_anna.post("/language/", {"language": "ru", "next": older})
    assert switched["Location"] == older
    refused = as_anna.post(f"/members/{anna.id}/post", {"text": "x" * 5001}).content.decode()
    assert re.findall(r'name="next" value="([^"]*)"', refused)[0] == f"/members/{anna.id}/"


@pytest.mark.parametrize("path", ["/friends/", "/members/{boris}/friends/",
                                  "/members/{boris}/friends/?mutual=1"])
def test_friend_lists_page_by_name_without_repeats_or_gaps(path: str) -> None:
    """The "More" link carries the last friend's name and id: a friend added before it
    between two pages is not listed twice over the next page, and a name with URL
    signs in it still leads on."""
    anna = make_member(display_name="Anna")
    boris = make_member(display_name="Boris")
    friends = [make_member(display_name=f"F-{n:03} & #?x=y") for n in range(25)]
    for friend in friends:
        for member in (anna, boris):
            befriend(member, friend)
    client = signed_in(anna, "en")
    path = path.format(boris=boris.id)
    page = client.get(path)
    seen = [row.friend_id for row in page.context["friends"]]
    newcomer = make_member(display_name="A")
    for member in (anna, boris):
        befriend(member, newcomer)
    while True:
        more = re.search(r'<p class="pages"><a href="([^"]+)">More</a>', page.content.decode())
        if more is None:
            break
        page = client.get(path.split("?")[0] + more.group(1).replace("&amp;", "&"))
        assert page.status_code == 200
        seen += [row.friend_id for row in page.context["friends"]]
    assert seen == [friend.id for friend in friends]
    assert len(client.get(f"{path.split('?')[0]}?after=nonsense").context["friends"]) == (
        settings.SOCIAL_PAGE_SIZE
    )


@pytest.mark.parametrize(("language", "blocked", "friends_only"), [
    ("en", "You cannot do this: one of you has blocked the other.",
     "This member accepts messages from friends only."),
    ("ru", "Это невозможно: один из вас заблокировал другого.",
     "Этот участник принимает сообщения только от друзей."),
])
def test_a_conversation_offers_no_form_that_sending_would_refuse(
    language: str, blocked: str, friends_only: str
) -> None:
    """As the profile offers no "Write a message" then: a member who blocks me (or whom
    I block), or who takes messages from friends only, is not written to from the
    conversation either; the page says why, and the messages stay readable."""
    anna = make_member(display_name="Anna", language=language)
    boris = make_member(display_name="Boris", language=language)
    vera = make_member(display_name="Vera", language=language)
    as_boris = signed_in(boris, language)
    as_boris.post(f"/messages/{anna.id}/", {"text": "hello Anna"})
    as_boris.post(f"/messages/{vera.id}/", {"text": "hello Vera"})
    Block.objects.create(blocker=anna, blocked=boris)
    Profile.objects.create(member=vera, message_audience="friends")
    for other, reason in ((anna, blocked), (vera, friends_only)):
        for viewer, client in ((boris, as_boris), (other, signed_in(other, language))):
            them = other if viewer == boris else boris
            html = client.get(f"/messages/{them.id}/").content.decode()
            assert f"hello {other.display_name}" in html
            offered = viewer == vera  # to Boris, who takes messages from everyone
            assert ('data-testid="send"' in html) is offered, (viewer, them)
            assert (reason in html) is not offered, (viewer, them)
    assert Message.objects.count() == 2


def test_a_friend_list_cursor_with_a_control_character_is_no_cursor() -> None:
    """No name holds one; PostgreSQL cannot even compare a NUL: the first page."""
    anna = make_member(display_name="Anna")
    boris = make_member(display_name="Boris")
    befriend(anna, boris)
    client = signed_in(anna, "en")
    for after in (f"{boris.id}-\x00", f"{boris.id}-A\x1fB", f"{boris.id}-\x7f"):
        page = client.get("/friends/", {"after": after})
        assert page.status_code == 200
        assert [row.friend_id for row in page.context["friends"]] == [boris.id]


def test_member_text_is_escaped_on_every_social_page() -> None:
    """A name, an about text, a post, a message and the notices that carry a name, with
    markup in each: every page (its title too) shows them as text."""
    payload = '<script>alert(1)</script><img src=x onerror=alert(2)>"\''
    anna = make_member(display_name="Anna")
    mallory = make_member(display_name=f"M {payload}"[:64])
    Profile.objects.create(member=mallory, about=f"about {payload}")
    befriend(anna, mallory)
    as_mallory = signed_in(mallory, "en")
    as_mallory.post(f"/members/{anna.id}/post", {"text": f"post {payload}"})
    as_mallory.post(f"/messages/{anna.id}/", {"text": f"message {payload}"})
    stranger = make_member(display_name="Stranger")
    signed_in(stranger, "en").post(f"/members/{mallory.id}/befriend")
    Block.objects.create(blocker=stranger, blocked=mallory)
    assert WallPost.objects.count() == Message.objects.count() == 1
    from inviteonly.notifications.actions import notify_member
    from inviteonly.notifications.models import NotificationKind

    notify_member(anna, NotificationKind.FRIEND_REQUEST, subject=mallory)
    pages = [(anna, path) for path in (
        "/", f"/members/{mallory.id}/", f"/members/{anna.id}/", "/friends/",
        f"/members/{anna.id}/friends/", f"/members/{mallory.id}/friends/?mutual=1",
        "/messages/", f"/messages/{mallory.id}/",
        f"/report/wall_post/{WallPost.objects.get().id}/",
        f"/report/message/{Message.objects.get().id}/", f"/report/profile/{mallory.id}/",
    )] + [(stranger, "/friends/")]
    for viewer, path in pages:
        page = signed_in(viewer, "en").get(path)
        assert page.status_code == 200, path
        html = page.content.decode()
        assert "<script>" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;" in html, path


def test_marking_a_conversation_read_on_the_page_leaves_a_message_that_came_since() -> None:
    """The button marks what the page showed: a message that arrived after the page was
    read stays unread (and unread to its sender)."""
    anna = make_member(display_name="Anna")
    boris = make_member(display_name="Boris")
    as_anna, as_boris = signed_in(anna, "en"), signed_in(boris, "en")
    as_anna.post(f"/messages/{boris.id}/", {"text": "one"})
    html = as_boris.get(f"/messages/{anna.id}/").content.decode()
    form = re.search(r'<form method="post" action="/messages/\d+/read">(.*?)</form>', html,
                     re.DOTALL)
    assert form is not None
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(1)))
    as_anna.post(f"/messages/{boris.id}/", {"text": "two"})
    assert as_boris.post(f"/messages/{anna.id}/read", fields).status_code == 302
    assert Participant.objects.get(member=boris).unread_count == 1
    assert as_anna.get(f"/messages/{boris.id}/").content.decode().count(
        'data-testid="read-mark"') == 1


@pytest.mark.parametrize(("language", "quarantined", "ends"), [
    ("en", "Your account is quarantined by the moderators: for now you cannot post, "
     "send messages, change your profile or ask anyone to be friends.",
     "The quarantine ends on"),
    ("ru", "Модераторы поместили ваш аккаунт в карантин: пока вы не можете публиковать "
     "записи, отправлять сообщения, менять профиль и добавлять кого-либо в друзья.",
     "Карантин закончится"),
])
def test_a_quarantined_member_is_offered_no_form_that_quarantine_would_refuse(
    language: str, quarantined: str, ends: str
) -> None:
    """No wall post form (on their own wall or a friend's), no "Write a message", no
    message form: the pages say why instead, and when the quarantine ends if it is
    known."""
    founder = make_member(display_name="Founder", role=Member.Role.FOUNDER)
    anna = make_member(display_name="Anna", language=language)
    boris = make_member(display_name="Boris", language=language)
    befriend(anna, boris)
    as_boris = signed_in(boris, language)
    as_boris.post(f"/messages/{anna.id}/", {"text": "hello Anna"})
    pages = (f"/members/{anna.id}/", f"/members/{boris.id}/", f"/messages/{anna.id}/")
    for page in pages:
        html = as_boris.get(page).content.decode()
        assert 'data-testid="post-form"' in html or 'data-testid="send"' in html, page
    sanction = do_quarantine_member(member=boris, moderator=founder, reason="Spam links")
    for known_end in (False, True):
        if known_end:
            Sanction.objects.filter(id=sanction.id).update(
                ends_at=clock.now() + timedelta(days=3)
            )
        for page in pages:
            response = as_boris.get(page)
            assert response.status_code == 200
            html = response.content.decode()
            for offer in ("post-form", "write-message", "send"):
                assert f'data-testid="{offer}"' not in html, (page, offer)
            assert quarantined in html, page
            assert (ends in html) is known_end, page
    assert Message.objects.count() == 1


@pytest.mark.parametrize(("language", "hidden", "refused"), [
    ("en", "This member's page is not available to you.", "Not available"),
    ("ru", "Страница этого участника вам недоступна.", "Недоступно"),
])
def test_a_member_who_blocks_me_shows_me_only_their_name(
    language: str, hidden: str, refused: str
) -> None:
    """Their about text and friends stay hidden from the member they block, on the
    profile and the friend lists; the blocker still sees the blocked member's page,
    with the button to unblock."""
    anna = make_member(display_name="Anna", language=language)
    boris = make_member(display_name="Boris", language=language)
    vera = make_member(display_name="Vera", language=language)
    Profile.objects.create(member=anna, about="Anna collects secret stamps")
    Profile.objects.create(member=boris, about="Boris about text")
    befriend(anna, vera)
    befriend(boris, vera)
    as_anna, as_boris = signed_in(anna, language), signed_in(boris, language)
    assert "Anna collects secret stamps" in as_boris.get(f"/members/{anna.id}/").content.decode()
    as_anna.post(f"/members/{boris.id}/block")

    page = as_boris.get(f"/members/{anna.id}/")
    html = page.content.decode()
    assert page.status_code == 200 and "Anna" in html and hidden in html
    assert "Anna collects secret stamps" not in html
    assert f"/members/{anna.id}/friends/" not in html
    for path in (f"/members/{anna.id}/friends/", f"/members/{anna.id}/friends/?mutual=1"):
        answer = as_boris.get(path)
        html = answer.content.decode()
        assert answer.status_code == 403, path
        assert refused in html and escape(hidden) in html and "Vera" not in html, path

    html = as_anna.get(f"/members/{boris.id}/").content.decode()
    assert "Boris about text" in html and hidden not in html
    # The block hides his wall from her, and the page says so (not "friends only").
    assert escape(BLOCKED_WALL[language]) in html
    assert "friends only" not in html and "только друзьям" not in html
    assert f'action="/members/{boris.id}/unblock"' in html
    assert "Vera" in as_anna.get(f"/members/{boris.id}/friends/").content.decode()


@pytest.mark.parametrize(("language", "quarantined"), [
    ("en", "Your account is quarantined by the moderators"),
    ("ru", "Модераторы поместили ваш аккаунт в карантин"),
])
def test_a_quarantined_member_is_offered_no_friend_request_or_write_link(
    language: str, quarantined: str
) -> None:
    """Sending either would be refused: the profile and the friends page say why
    instead."""
    founder = make_member(display_name="Founder", role=Member.Role.FOUNDER)
    anna = make_member(display_name="Anna", language=language)
    boris = make_member(display_name="Boris", language=language)
    vera = make_member(display_name="Vera", language=language)
    befriend(boris, vera)
    as_boris = signed_in(boris, language)
    write = f'href="/messages/{vera.id}/"'
    assert 'data-testid="add-friend"' in as_boris.get(f"/members/{anna.id}/").content.decode()
    assert write in as_boris.get("/friends/").content.decode()
    do_quarantine_member(member=boris, moderator=founder, reason="Spam links")
    html = as_boris.get(f"/members/{anna.id}/").content.decode()
    assert 'data-testid="add-friend"' not in html and quarantined in html
    html = as_boris.get("/friends/").content.decode()
    assert write not in html and "Vera" in html and quarantined in html
    refused = as_boris.post(f"/members/{anna.id}/befriend")
    assert refused.status_code == 302 and not FriendRequest.objects.exists()


@pytest.mark.parametrize(("language", "heading"), [("en", "My friends"), ("ru", "Мои друзья")])
def test_the_friends_list_has_its_own_heading_under_friend_requests(
    language: str, heading: str
) -> None:
    """With requests waiting, the friend list came straight after them under their
    heading, "No friends yet." reading as one more request."""
    anna = make_member(display_name="Anna", language=language)
    boris = make_member(display_name="Boris", language=language)
    signed_in(boris, language).post(f"/members/{anna.id}/befriend")
    page = signed_in(anna, language).get("/friends/").content.decode()
    requests_at = page.index('data-testid="incoming-requests"')
    friends_at = page.index('data-testid="friends"')
    assert f"<h2>{heading}</h2>" in page[requests_at:friends_at]


@pytest.mark.parametrize(("language", "notice"), [
    ("en", "Anna accepted your friend request."),
    ("ru", "Anna принял(а) вашу заявку в друзья."),
])
def test_an_accepted_friend_request_is_told_in_the_past(language: str, notice: str) -> None:
    """In Russian the notice said "принимает" (is accepting) of a request accepted
    long before it was read; the notice of a joined invitee already says "принял(а)"."""
    anna = make_member(display_name="Anna", language=language)
    boris = make_member(display_name="Boris", language=language)
    signed_in(boris, language).post(f"/members/{anna.id}/befriend")
    signed_in(anna, language).post(f"/members/{boris.id}/accept")
    assert notice in signed_in(boris, language).get("/").content.decode()


@pytest.mark.parametrize(("language", "refusal"), [
    ("en", "New members cannot post links in their first 7 days."),
    ("ru", "Новые участники пока не могут публиковать ссылки — в первые 7 дней на сайте."),
])
def test_a_new_member_allowed_no_links_is_not_told_of_at_most_zero(
    language: str, refusal: str
) -> None:
    """Under the default limit of no links the refusal said "at most 0 per post"."""
    anna = make_member(display_name="Anna", language=language)  # joined today: new
    answer = signed_in(anna, language).post(
        f"/members/{anna.id}/post", {"text": "See holiday.example.com"}, follow=True)
    html = answer.content.decode()
    assert refusal in html
    assert " 0 " not in html.split('id="id_text_error"')[1].split("</span>")[0]
