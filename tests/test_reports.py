"""Reports and the moderation queue: filing a report (bad paths included), the queue
grouped by item at a constant query count, each decision resolving the item's reports,
removing the content, sanctioning the author and notifying every reporter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from inviteonly import settings as production_settings
from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.actions import do_ban_member, do_report_item, do_resolve_reports
from inviteonly.moderation.models import Report, ReportResolution, SanctionKind, Strike
from inviteonly.notifications.models import Notification, NotificationKind
from inviteonly.notifications.queries import recent_notifications
from inviteonly.social.actions import do_send_message
from inviteonly.social.models import Participant, Profile, WallPost
from tests.conftest import ApiClient, FrozenClock, make_member
from tests.social_helpers import befriend, member_with_api

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator(db: None) -> Member:
    return make_member(role=Member.Role.MODERATOR, display_name="Mod Vera",
                       phone=PHONES["moderator"])


def post_by(author: Member, *, text: str = "Cheap pills at pills.example") -> WallPost:
    return WallPost.objects.create(wall_owner=author, author=author, text=text)


def report(reporter: Member, post: WallPost, reason: str = "spam") -> Report:
    return do_report_item(reporter=reporter, target_kind="wall_post", target_id=post.id,
                          reason=reason)


def test_a_report_keeps_author_and_excerpt_and_is_audited() -> None:
    author, reporter = make_member(display_name="Spammer"), make_member(display_name="Ann")
    post = post_by(author)
    filed = do_report_item(reporter=reporter, target_kind="wall_post", target_id=post.id,
                           reason="spam", details="  third time  today ")
    assert (filed.target_member, filed.excerpt, filed.details) == (
        author, "Cheap pills at pills.example", "third time today")
    assert AuditEntry.objects.filter(action=AuditAction.REPORT_FILED, actor=reporter,
                                     target_member=author).exists()


@pytest.mark.parametrize(("kind", "reason", "code"), [
    ("wall_post", "boring", "invalid_report_reason"),
    ("comment", "spam", "report_target_unknown"),
    ("wall_post", "spam", "already_reported"),
])
def test_bad_reports_are_refused_without_a_second_row(kind: str, reason: str,
                                                      code: str) -> None:
    author, reporter = make_member(), make_member()
    post = post_by(author)
    report(reporter, post)
    with pytest.raises(ActionError) as refused:
        do_report_item(reporter=reporter, target_kind=kind, target_id=post.id, reason=reason)
    assert refused.value.code == code
    assert Report.objects.count() == 1


def test_nobody_reports_what_they_cannot_see_or_themselves() -> None:
    author, stranger = make_member(), make_member()
    Profile.objects.create(member=author, wall_audience="friends")
    hidden_post = post_by(author)
    alice, bob = make_member(), make_member()
    message = do_send_message(sender=alice, recipient_id=bob.id, text="hello")
    for kind, target_id in (("wall_post", hidden_post.id), ("message", message.id),
                            ("wall_post", 10**9), ("profile", 10**9)):
        with pytest.raises(ActionError) as refused:
            do_report_item(reporter=stranger, target_kind=kind, target_id=target_id,
                           reason="spam")
        assert refused.value.status == 404
    with pytest.raises(ActionError) as refused:
        do_report_item(reporter=author, target_kind="profile", target_id=author.id,
                       reason="other")
    assert refused.value.code == "own_content"
    assert not Report.objects.exists()


def test_nobody_reports_or_reads_what_a_banned_author_wrote(moderator: Member) -> None:
    """Walls and conversations hide a banned member's posts and messages: the report
    form does not show them again, and a report about them is refused."""
    author, reader = make_member(), make_member()
    # On the reader's own wall, which they can see whoever is banned.
    post = WallPost.objects.create(wall_owner=reader, author=author,
                                   text="Hidden since the ban")
    message = do_send_message(sender=author, recipient_id=reader.id, text="Hidden too")
    do_ban_member(member=author, moderator=moderator, reason="Spam")
    client = Client()
    client.force_login(reader)
    for kind, target_id, text in (("wall_post", post.id, "Hidden since the ban"),
                                  ("message", message.id, "Hidden too")):
        page = client.get(f"/report/{kind}/{target_id}/")
        assert page.status_code == 404
        assert text not in page.content.decode()
        with pytest.raises(ActionError) as refused:
            do_report_item(reporter=reader, target_kind=kind, target_id=target_id,
                           reason="spam")
        assert (refused.value.code, refused.value.status) == ("report_target_unknown", 404)
    assert not Report.objects.exists()


def test_reports_are_rate_limited_per_member(clock: FrozenClock) -> None:
    clock.current = clock.current.replace(minute=0, second=0)
    reporter = make_member()
    posts = [post_by(make_member()) for _ in range(3)]
    with override_settings(RATE_LIMITS={"report": [("member", 2, 86400)]}):
        report(reporter, posts[0])
        report(reporter, posts[1])
        with pytest.raises(ActionError) as refused:
            report(reporter, posts[2])
    assert refused.value.status == 429
    assert Report.objects.count() == 2
    assert "report" in production_settings.RATE_LIMITS


def test_ban_for_spam_from_the_queue_resolves_notifies_and_strikes(
    moderator: Member,
) -> None:
    inviter = make_member(display_name="Inviter Ivan", language="ru")
    spammer = make_member(display_name="Spammer", invited_by=inviter)
    first, second = make_member(language="ru"), make_member(language="en")
    post = post_by(spammer)
    report(first, post)
    report(second, post, reason="abuse")
    other = post_by(spammer, text="another")
    report(first, other)  # another item: stays open
    resolved = do_resolve_reports(moderator=moderator, target_kind="wall_post",
                                  target_id=post.id, decision="ban", reason="Spam links",
                                  for_spam=True)
    assert len(resolved) == 2
    spammer.refresh_from_db()
    assert spammer.status == Member.Status.BANNED
    assert not WallPost.objects.filter(id=post.id).exists()
    assert Strike.objects.filter(member=inviter, invitee=spammer).exists()
    assert Notification.objects.filter(member=inviter,
                                       kind=NotificationKind.INVITEE_BANNED).exists()
    assert set(Report.objects.filter(resolution=ReportResolution.BANNED)
               .values_list("reporter_id", flat=True)) == {first.id, second.id}
    assert Report.objects.get(target_id=other.id).resolved_at is None
    with translation.override("ru"):
        [notice] = recent_notifications(first, limit=1)
    assert notice.kind == NotificationKind.REPORT_AUTHOR_BANNED
    assert "забанил Spammer" in notice.text
    with translation.override("en"):
        [notice] = recent_notifications(second, limit=1)
    assert "banned Spammer" in notice.text
    entry = AuditEntry.objects.get(action=AuditAction.REPORTS_RESOLVED)
    assert entry.actor == moderator and entry.details["count"] == 2
    assert AuditEntry.objects.filter(action=AuditAction.REPORTED_CONTENT_REMOVED).exists()


def test_dismissal_keeps_the_content_and_tells_the_reporter_why(moderator: Member) -> None:
    author, reporter = make_member(display_name="Poet"), make_member()
    post = post_by(author, text="A poem")
    report(reporter, post, reason="other")
    do_resolve_reports(moderator=moderator, target_kind="wall_post", target_id=post.id,
                       decision="dismiss", reason="Poetry is allowed")
    assert WallPost.objects.filter(id=post.id).exists()
    author.refresh_from_db()
    assert author.status == Member.Status.ACTIVE and not author.sanctions.exists()
    [notice] = recent_notifications(reporter, limit=1)
    assert "Poet" in notice.text and "Poetry is allowed" in notice.text
    # Resolved: a second decision finds nothing.
    with pytest.raises(ActionError) as refused:
        do_resolve_reports(moderator=moderator, target_kind="wall_post", target_id=post.id,
                           decision="dismiss", reason="again")
    assert refused.value.status == 404


# Dismissed on 10 March 2026 at noon (UTC), with REPORT_REFILE_AFTER_DAYS=30.
DISMISSED_AT = datetime(2026, 3, 10, 12, tzinfo=UTC)
REFILE_REFUSED = {
    "en": "The moderators looked at your report about this and found nothing to act on. "
          "You can report it again from April 9, 2026.",
    "ru": "Модераторы рассмотрели вашу жалобу на это и не нашли нарушения. "
          "Пожаловаться снова можно с 9 апреля 2026.",
}


@override_settings(REPORT_REFILE_AFTER_DAYS=30,
                   RATE_LIMITS={"report": [("member", 2, 86400)]})
def test_a_dismissed_report_is_not_filed_again_by_its_reporter_until_the_wait_is_over(
    clock: FrozenClock, moderator: Member,
) -> None:
    """A dismissed report filed again at once went straight back to the queue: one
    member could re-queue the same item without end. The reporter now waits
    REPORT_REFILE_AFTER_DAYS; the refusal writes nothing and counts no report; another
    member may report the item, and an item resolved otherwise may be reported again."""
    clock.current = DISMISSED_AT
    author, reporter, other = make_member(display_name="Poet"), make_member(), make_member()
    post = post_by(author, text="A poem")
    report(reporter, post, reason="other")
    do_resolve_reports(moderator=moderator, target_kind="wall_post", target_id=post.id,
                       decision="dismiss", reason="Poetry is allowed")
    entries = AuditEntry.objects.count()
    for language, refusal in REFILE_REFUSED.items():
        with translation.override(language), pytest.raises(ActionError) as refused:
            report(reporter, post, reason="spam")
        assert (refused.value.code, refused.value.status) == ("report_dismissed", 409)
        assert str(refused.value.message) == refusal
    assert Report.objects.count() == 1 and AuditEntry.objects.count() == entries
    # Counted nothing: the reporter's second report of the day goes through.
    report(reporter, post_by(author, text="Another poem"))
    report(other, post)
    # A profile whose report ended in a warning (its text removed) may be reported again.
    clock.advance(days=1)
    do_report_item(reporter=reporter, target_kind="profile", target_id=author.id,
                   reason="abuse")
    do_resolve_reports(moderator=moderator, target_kind="profile", target_id=author.id,
                       decision="warn", reason="Rude about text")
    do_report_item(reporter=reporter, target_kind="profile", target_id=author.id,
                   reason="abuse")
    # The wait ends at the date the refusal gave.
    do_resolve_reports(moderator=moderator, target_kind="wall_post", target_id=post.id,
                       decision="dismiss", reason="Still poetry")  # the other's report
    clock.current = DISMISSED_AT + timedelta(days=30, seconds=-1)
    with pytest.raises(ActionError):
        report(reporter, post)
    clock.current = DISMISSED_AT + timedelta(days=30)
    assert report(reporter, post).resolved_at is None


@pytest.mark.parametrize("language", ["en", "ru"])
@override_settings(REPORT_REFILE_AFTER_DAYS=30)
def test_a_dismissed_report_filed_again_is_refused_on_the_page_and_in_the_api(
    clock: FrozenClock, moderator: Member, language: str,
) -> None:
    clock.current = DISMISSED_AT
    author = make_member(display_name="Ads")
    reporter, api = member_with_api("Reporter", language=language)
    befriend(author, reporter)
    post = post_by(author)
    report(reporter, post)
    do_resolve_reports(moderator=moderator, target_kind="wall_post", target_id=post.id,
                       decision="dismiss", reason="Not ads")
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(reporter)
    page = client.post(f"/report/wall_post/{post.id}/", {"reason": "spam"})
    assert page.status_code == 200
    assert REFILE_REFUSED[language] in page.content.decode()
    answer = api.post("/reports", {"target_kind": "wall_post", "target_id": post.id,
                                   "reason": "spam"})
    assert answer.status_code == 409
    assert answer.json_body == {"code": "report_dismissed", "detail": REFILE_REFUSED[language],
                                "field": None}
    assert Report.objects.count() == 1


def test_removing_a_message_fixes_the_inbox(moderator: Member, clock: FrozenClock) -> None:
    sender, recipient = make_member(), make_member()
    greeting = do_send_message(sender=sender, recipient_id=recipient.id, text="hi")
    clock.advance(hours=1)
    spam = do_send_message(sender=sender, recipient_id=recipient.id, text="buy now")
    do_report_item(reporter=recipient, target_kind="message", target_id=spam.id,
                   reason="spam")
    do_resolve_reports(moderator=moderator, target_kind="message", target_id=spam.id,
                       decision="warn", reason="No ads")
    inbox = Participant.objects.get(member=recipient)
    assert inbox.unread_count == 1 and inbox.last_message is not None
    assert inbox.last_message.text == "hi"
    # Both inboxes show the message before it, at its time and in its place.
    for side in Participant.objects.all():
        assert (side.last_message_id, side.last_message_at) == (
            greeting.id, greeting.created_at), side
    assert sender.sanctions.get().kind == SanctionKind.WARN


def test_a_refused_decision_changes_nothing(moderator: Member) -> None:
    other_moderator = make_member(role=Member.Role.MODERATOR)
    reporter, plain = make_member(), make_member()
    post = post_by(other_moderator)
    report(reporter, post)
    for actor, decision, reason, code in (
        # Moderators do not act on moderators: not an item of their queue.
        (moderator, "ban", "x", "no_open_reports"),
        (moderator, "remove", "  ", "reason_required"),
        (moderator, "explode", "x", "invalid_decision"),
        (plain, "dismiss", "x", "not_a_moderator"),
    ):
        with pytest.raises(ActionError) as refused:
            do_resolve_reports(moderator=actor, target_kind="wall_post", target_id=post.id,
                               decision=decision, reason=reason)
        assert refused.value.code == code
    assert WallPost.objects.filter(id=post.id).exists()
    assert Report.objects.get().resolved_at is None
    assert not Notification.objects.filter(member=reporter).exists()


def _queue_queries(client: Client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/moderation/reports/")
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_queue_page_groups_items_at_a_constant_query_count(moderator: Member) -> None:
    client = Client()
    client.force_login(moderator)
    reporters = [make_member() for _ in range(3)]
    counts = []
    for items in (2, 12):
        for _ in range(items - Report.objects.values("target_id").distinct().count()):
            post = post_by(make_member(display_name="Author"))
            for reporter in reporters:
                report(reporter, post)
        count, page = _queue_queries(client)
        assert page.count('data-testid="report-item"') == items
        assert page.count("3 reports") == items
        counts.append(count)
    assert counts[0] == counts[1]


def _reported_items(count: int) -> list[WallPost]:
    """``count`` posts reported one after the other (the last the newest in the queue)."""
    reporter = make_member()
    posts = [post_by(make_member()) for _ in range(count)]
    for post in posts:
        report(reporter, post)
    return posts


def _dismiss(moderator: Member, post: WallPost) -> None:
    do_resolve_reports(moderator=moderator, target_kind="wall_post", target_id=post.id,
                       decision="dismiss", reason="Fine")


def _page_targets(html: str) -> list[int]:
    return [int(target) for target in re.findall(r'data-target="wall_post-(\d+)"', html)]


def _older_link(html: str) -> str | None:
    older = re.search(r'<a href="([^"]+)" data-testid="older">', html)
    return None if older is None else older.group(1).replace("&amp;", "&")


@override_settings(MODERATION_QUEUE_PAGE_SIZE=2)
def test_queue_pages_by_cursor_without_repeats_or_gaps(moderator: Member) -> None:
    """Newest report first, ``?before=<next_before>``: an item reported between two
    pages goes to the top and pushes nothing read onto the next page, and one decided
    on from a page already read lets nothing slip past the next (an offset did both)."""
    posts = _reported_items(6)
    api = ApiClient()
    api.log_in(PHONES["moderator"])
    first = api.get("/moderation/reports")
    assert first.status_code == 200, first.json_body
    seen = [item["target_id"] for item in first.json_body["items"]]
    report(make_member(), post_by(make_member()))  # reported between two pages
    second = api.get(f"/moderation/reports?before={first.json_body['next_before']}")
    seen += [item["target_id"] for item in second.json_body["items"]]
    _dismiss(moderator, posts[3])  # read on the second page
    cursor = second.json_body["next_before"]
    while cursor is not None:
        page = api.get(f"/moderation/reports?before={cursor}").json_body
        seen += [item["target_id"] for item in page["items"]]
        cursor = page["next_before"]
    assert seen == [post.id for post in reversed(posts)]


@override_settings(MODERATION_QUEUE_PAGE_SIZE=2)
def test_the_queue_page_links_its_next_page_by_cursor(moderator: Member) -> None:
    """The page's "Older" link carries the cursor and keeps the address's other
    parameters; an item reported or decided on between two pages changes no other's
    place."""
    posts = _reported_items(6)
    client = Client()
    client.force_login(moderator)
    page = client.get("/moderation/reports/", {"mark": "x y"}).content.decode()
    seen = _page_targets(page)
    report(make_member(), post_by(make_member()))
    link = _older_link(page)
    assert link is not None and "mark=x+y" in link and "page=" not in link
    page = client.get(f"/moderation/reports/{link}").content.decode()
    seen += _page_targets(page)
    _dismiss(moderator, posts[3])
    while (link := _older_link(page)) is not None:
        assert link.count("before=") == 1 and "mark=x+y" in link
        page = client.get(f"/moderation/reports/{link}").content.decode()
        seen += _page_targets(page)
    assert seen == [post.id for post in reversed(posts)]


@pytest.mark.parametrize("cursor", ["nonsense", "0", "-1", "1.5", "\x00", "7\x00",
                                    "99999999999999999999999", "\u0661"])
def test_a_malformed_queue_cursor_is_the_first_page(moderator: Member, cursor: str) -> None:
    """A cursor no page wrote (PostgreSQL refuses a NUL outright): the newest items,
    never an error."""
    posts = _reported_items(2)
    client = Client()
    client.force_login(moderator)
    page = client.get("/moderation/reports/", {"before": cursor})
    assert page.status_code == 200
    assert _page_targets(page.content.decode()) == [post.id for post in reversed(posts)]


@pytest.mark.parametrize(("cursor", "language", "detail"), [
    ("nonsense", "en", "before: This value has the wrong type."),
    ("nonsense", "ru", "before: У этого значения неверный тип."),
    ("0", "en", "before: This value is too small: at least 1."),
    ("%00", "en", "before: This value has the wrong type."),
    ("7%00", "ru", "before: У этого значения неверный тип."),
])
def test_a_malformed_queue_cursor_is_a_translated_422(
    moderator: Member, cursor: str, language: str, detail: str
) -> None:
    _reported_items(1)
    api = ApiClient(language)
    api.log_in(PHONES["moderator"])
    answer = api.get(f"/moderation/reports?before={cursor}")
    assert answer.status_code == 422
    assert (answer.json_body["code"], answer.json_body["field"]) == ("invalid_request", "before")
    assert answer.json_body["detail"] == detail


def test_queue_refuses_members(db: None) -> None:
    client = Client()
    client.force_login(make_member())
    assert client.get("/moderation/reports/").status_code == 403
    assert client.post("/moderation/reports/wall_post/1/resolve").status_code == 403


@pytest.mark.parametrize("kind", ["wall\x00post", "no_such_kind"])
def test_resolving_an_unknown_kind_of_item_is_no_such_item(moderator: Member, kind: str) -> None:
    """The kind comes from the URL: PostgreSQL refuses a NUL in a query (a 500 before)."""
    moderation = Client()
    moderation.force_login(moderator)
    prefix = f"{kind}-1"
    answer = moderation.post(f"/moderation/reports/{kind}/1/resolve", {
        f"{prefix}-decision": "dismiss", f"{prefix}-reason": "No",
    }, follow=True)
    assert answer.redirect_chain == [("/moderation/reports/", 302)]
    assert "There are no open reports about this." in answer.content.decode()


def test_report_and_resolve_through_the_pages(moderator: Member) -> None:
    author, reporter = make_member(display_name="Ads"), make_member()
    befriend(author, reporter)
    post = post_by(author)
    client = Client()
    client.force_login(reporter)
    profile = client.get(f"/members/{author.id}/").content.decode()
    assert f"/report/wall_post/{post.id}/" in profile and f"/report/profile/{author.id}/" in profile
    form = client.get(f"/report/wall_post/{post.id}/")
    assert "Cheap pills" in form.content.decode()
    answer = client.post(f"/report/wall_post/{post.id}/",
                         {"reason": "spam", "next": f"/members/{author.id}/"})
    assert answer.status_code == 302 and answer["Location"] == f"/members/{author.id}/"
    again = client.post(f"/report/wall_post/{post.id}/", {"reason": "spam"})
    assert "already reported" in again.content.decode()
    moderation = Client()
    moderation.force_login(moderator)
    prefix = f"wall_post-{post.id}"
    done = moderation.post(f"/moderation/reports/wall_post/{post.id}/resolve", {
        f"{prefix}-decision": "remove", f"{prefix}-reason": "Ads",
    })
    assert done.status_code == 302
    assert not WallPost.objects.filter(id=post.id).exists()
    assert Report.objects.get().resolution == ReportResolution.CONTENT_REMOVED


def test_the_report_page_takes_the_details_its_textarea_takes(moderator: Member) -> None:
    """The textarea counts a line break as one character; the browser sends two. Past
    the limit, the page says so in the action's words."""
    author, reporter = make_member(display_name="Ads"), make_member()
    befriend(author, reporter)
    post = post_by(author)
    client = Client()
    client.force_login(reporter)
    limit = production_settings.REPORT_DETAILS_MAX_LENGTH
    too_long = client.post(f"/report/wall_post/{post.id}/",
                           {"reason": "spam", "details": "x" * (limit + 1)})
    assert f"This text is too long: at most {limit} characters." in too_long.content.decode()
    assert not Report.objects.exists()
    lines = ("x" * 9 + "\r\n") * (limit // 10)  # `limit` characters in the textarea
    filed = client.post(f"/report/wall_post/{post.id}/", {"reason": "spam", "details": lines})
    assert filed.status_code == 302
    assert len(Report.objects.get().details) <= limit


def test_reports_through_the_api(moderator: Member) -> None:
    author, author_api = member_with_api("Author")
    reporter, reporter_api = member_with_api("Reporter", language="ru")
    _moderator, moderator_api = member_with_api("Second mod")
    Member.objects.filter(id=_moderator.id).update(role=Member.Role.MODERATOR)
    do_send_message(sender=author, recipient_id=reporter.id, text="spam spam")
    message_id = Participant.objects.get(member=reporter).last_message_id
    filed = reporter_api.post("/reports", {"target_kind": "message", "target_id": message_id,
                                           "reason": "spam"})
    assert filed.status_code == 201, filed.json_body
    twice = reporter_api.post("/reports", {"target_kind": "message",
                                           "target_id": message_id, "reason": "spam"})
    assert twice.status_code == 409 and "уже" in twice.json_body["detail"]
    assert author_api.get("/moderation/reports").status_code == 403
    queue = moderator_api.get("/moderation/reports")
    assert queue.status_code == 200
    [item] = queue.json_body["items"]
    assert (item["target_id"], item["reports"], item["excerpt"]) == (message_id, 1, "spam spam")
    decided = moderator_api.post(f"/moderation/reports/message/{message_id}/resolve",
                                 {"decision": "quarantine", "reason": "Spam"})
    assert decided.status_code == 200, decided.json_body
    assert decided.json_body == {"resolution": "quarantined", "resolved_reports": 1}
    author.refresh_from_db()
    assert author.status == Member.Status.QUARANTINED
    assert moderator_api.get("/moderation/reports").json_body["items"] == []


# --- who decides on what: moderators on members, founders on moderators, nobody on a
# founder (operators read reports about founders in the admin's audit log) ------------


def _reported_posts(founder: Member, moderator: Member) -> dict[str, WallPost]:
    """A reported post by a member, by the moderator, by another moderator, by the
    founder and by another founder; each item's reporter and note name the item."""
    authors = {
        "member": make_member(display_name="Plain Petr"),
        "moderator": moderator,
        "other_moderator": make_member(role=Member.Role.MODERATOR, display_name="Mod Oleg"),
        "founder": founder,
        "other_founder": make_member(role=Member.Role.FOUNDER, display_name="Founder Boris"),
    }
    posts = {}
    for name, author in authors.items():
        posts[name] = post_by(author, text=f"post by {name}")
        do_report_item(reporter=make_member(display_name=f"Reporter of {name}"),
                       target_kind="wall_post", target_id=posts[name].id, reason="abuse",
                       details=f"note about {name}")
    return posts


# The numbers of the fixtures "moderator" (here) and "founder" (tests/conftest.py).
PHONES = {"moderator": "+79160000009", "founder": "+79160000001"}
# Whose items each viewer decides on; the others are left out of their queue.
DECIDES_ON = {"moderator": {"member"}, "founder": {"member", "moderator", "other_moderator"}}


@pytest.mark.parametrize("viewer", ["moderator", "founder"])
def test_the_queue_holds_only_items_the_viewer_may_decide_on(
    founder: Member, moderator: Member, viewer: str
) -> None:
    posts = _reported_posts(founder, moderator)
    member = {"moderator": moderator, "founder": founder}[viewer]
    client = Client()
    client.force_login(member)
    page = client.get("/moderation/reports/").content.decode()
    listed = {name for name, post in posts.items()
              if f'data-target="wall_post-{post.id}"' in page}
    assert listed == DECIDES_ON[viewer]
    for name in posts.keys() - DECIDES_ON[viewer]:  # neither the reporter nor the note
        assert f"Reporter of {name}" not in page and f"note about {name}" not in page
        assert f"post by {name}" not in page
    api = ApiClient()
    api.log_in(PHONES[viewer])
    items = api.get("/moderation/reports").json_body["items"]
    assert {name for name, post in posts.items()
            if any(item["target_id"] == post.id for item in items)} == DECIDES_ON[viewer]


@pytest.mark.parametrize(("viewer", "author"), [
    ("moderator", "moderator"), ("moderator", "other_moderator"), ("moderator", "founder"),
    ("founder", "founder"), ("founder", "other_founder"),
])
@pytest.mark.parametrize("decision", ["dismiss", "remove", "warn"])
def test_nobody_decides_on_reports_about_themselves_or_their_equals_or_betters(
    founder: Member, moderator: Member, viewer: str, author: str, decision: str
) -> None:
    posts = _reported_posts(founder, moderator)
    actor = {"moderator": moderator, "founder": founder}[viewer]
    post = posts[author]
    with pytest.raises(ActionError) as refused:
        do_resolve_reports(moderator=actor, target_kind="wall_post", target_id=post.id,
                           decision=decision, reason="Mine to judge")
    # The same answer as for an item nobody reported: not even that it was reported.
    assert (refused.value.code, refused.value.status) == ("no_open_reports", 404)
    assert WallPost.objects.filter(id=post.id).exists()
    assert Report.objects.get(target_id=post.id).resolved_at is None
    assert not Notification.objects.filter(
        kind__in=[NotificationKind.REPORT_DISMISSED, NotificationKind.REPORT_CONTENT_REMOVED,
                  NotificationKind.REPORT_AUTHOR_WARNED]).exists()
    assert not AuditEntry.objects.filter(action=AuditAction.REPORTS_RESOLVED).exists()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_reports_about_oneself_answer_like_reports_about_nothing(
    moderator: Member, language: str
) -> None:
    own = post_by(moderator, text="my own post")
    report(make_member(), own, reason="abuse")
    unreported = post_by(moderator, text="nobody minds this one")
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(moderator)
    answers = []
    for post in (own, unreported):
        prefix = f"wall_post-{post.id}"
        answer = client.post(f"/moderation/reports/wall_post/{post.id}/resolve", {
            f"{prefix}-decision": "dismiss", f"{prefix}-reason": "nothing wrong here",
        }, follow=True)
        answers.append((answer.redirect_chain, answer.content.decode()))
    assert answers[0][0] == answers[1][0] == [("/moderation/reports/", 302)]
    for _chain, page in answers:
        assert {"en": "There are no open reports about this.",
                "ru": "Открытых жалоб на это нет."}[language] in page
    assert Report.objects.get().resolved_at is None
    api = ApiClient(language)
    api.log_in(PHONES["moderator"])
    by_api = [api.post(f"/moderation/reports/wall_post/{post.id}/resolve",
                       {"decision": "remove", "reason": "x"}) for post in (own, unreported)]
    assert [answer.status_code for answer in by_api] == [404, 404]
    assert by_api[0].json_body == by_api[1].json_body
    assert WallPost.objects.filter(id=own.id).exists()


def test_a_founder_decides_on_reports_about_a_moderator(
    founder: Member, moderator: Member
) -> None:
    post = post_by(moderator, text="rude")
    reporter = make_member()
    report(reporter, post, reason="abuse")
    do_resolve_reports(moderator=founder, target_kind="wall_post", target_id=post.id,
                       decision="remove", reason="Rude")
    assert not WallPost.objects.filter(id=post.id).exists()
    assert Report.objects.get().resolution == ReportResolution.CONTENT_REMOVED


@pytest.mark.parametrize(("language", "required"), [
    ("en", "This field is required."), ("ru", "Это поле обязательно."),
])
def test_a_decision_sent_without_a_reason_is_refused_by_its_field(
    moderator: Member, language: str, required: str
) -> None:
    """The queue shows a form per item. A decision without a reason was sent back to the
    queue's top as a bare "This field is required.": which item, which field? It is now
    shown by that item's reason, with the decision chosen still chosen."""
    first, second = post_by(make_member()), post_by(make_member(), text="Rude words")
    report(make_member(), first)
    report(make_member(), second, reason="abuse")
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(moderator)
    prefix = f"wall_post-{second.id}"
    answer = client.post(f"/moderation/reports/wall_post/{second.id}/resolve", {
        f"{prefix}-decision": "remove", f"{prefix}-reason": "",
    })
    assert answer.status_code == 200
    page = answer.content.decode()
    assert re.search(rf'id="id_{prefix}-reason_error"[^>]*>{required}<', page), page
    assert page.count(required) == 1
    assert re.search(r'<option value="remove" selected>', page)
    # The other item's form is as it was; the language switch leads to the queue.
    assert f'id="id_wall_post-{first.id}-reason_error"' not in page
    assert re.findall(r'name="next" value="([^"]*)"', page)[0] == "/moderation/reports/"
    assert Report.objects.filter(resolved_at=None).count() == 2


@override_settings(MODERATION_QUEUE_PAGE_SIZE=2)
def test_the_queue_sent_back_with_a_refused_decision_links_its_older_page(
    moderator: Member
) -> None:
    """The queue shown at a decision's address (…/resolve, which takes no GET) after a
    refused one: its "Older" link leads to the queue's next page, not to ?before= on
    that address (405)."""
    posts = _reported_items(3)
    client = Client()
    client.force_login(moderator)
    prefix = f"wall_post-{posts[2].id}"
    answer = client.post(f"/moderation/reports/wall_post/{posts[2].id}/resolve", {
        f"{prefix}-decision": "remove", f"{prefix}-reason": "",
    })
    assert answer.status_code == 200
    link = _older_link(answer.content.decode())
    assert link is not None
    older = client.get(urljoin(f"/moderation/reports/wall_post/{posts[2].id}/resolve", link))
    assert older.status_code == 200
    assert _page_targets(older.content.decode()) == [posts[0].id]


@pytest.mark.parametrize(("language", "cancel"), [("en", "Cancel"), ("ru", "Отмена")])
def test_the_report_form_leads_back_without_reporting(language: str, cancel: str) -> None:
    """The report form had only its send button: a member who opened it by mistake
    could leave it only through the menu or the browser's back."""
    post = post_by(make_member(display_name="Spammer"))
    reader = make_member(display_name="Reader", language=language)
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(reader)
    wall = f"/members/{post.wall_owner_id}/"
    page = client.get(f"/report/wall_post/{post.id}/", {"next": wall}).content.decode()
    assert f'<a href="{wall}" data-testid="cancel-report">{cancel}</a>' in page
    # Without a way back (a hand-typed address): the author's wall, where a report of
    # theirs is sent back to.
    page = client.get(f"/report/wall_post/{post.id}/").content.decode()
    assert f'<a href="/members/{post.author_id}/" data-testid="cancel-report">' in page
