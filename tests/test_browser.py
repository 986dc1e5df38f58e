"""The whole membership flow in real Chromium, once in English and once in Russian:
invite → SMS → join → code → account → logout → login → recovery → new password; and
the pages on a phone's screen (a move to a new number among them)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from inviteonly.accounts.models import Member
from tests.conftest import PASSWORD, FrozenClock, SmsOutbox, make_member, skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("INVITEONLY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get("INVITEONLY_SCREENSHOTS", Path(tempfile.gettempdir()) / "inviteonly-screenshots")
)

# What each language's pages say, to prove the pages really are translated.
WORDS = {
    "en": {"log_in": "Log in", "welcome": "Welcome", "changed": "Your password has been changed"},
    "ru": {"log_in": "Войти", "welcome": "Добро пожаловать", "changed": "Пароль изменён"},
}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"Chromium is not installed at {CHROMIUM} (Debian package chromium)")
    # Playwright's sync API runs an event loop in this thread; the test still uses the
    # ORM synchronously between page actions, which is safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def click_in_the_menu(page: Any, selector: str) -> None:
    """Click a link of the header's menu: on a phone, open the menu first."""
    menu = page.locator("[data-testid=menu]")
    if menu.is_visible():
        menu.click()
    page.click(selector)


def assert_fits_the_screen(page: Any) -> None:
    """Nothing makes the page scroll sideways (a wide table, a long address)."""
    scrolled, shown = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scrolled <= shown, f"{page.url} is {scrolled}px wide on a {shown}px screen"


@pytest.mark.parametrize("language", ["en", "ru"])
def test_membership_flow_in_chromium(
    browser: object, live_server: object, sms_outbox: SmsOutbox, language: str
) -> None:
    from playwright.sync_api import Browser, Page, expect

    assert isinstance(browser, Browser)
    base = str(live_server)
    words = WORDS[language]
    make_member(
        display_name="Founder Anna", role=Member.Role.FOUNDER, phone="+79160000001",
        language=language,
    )
    newcomer_phone = "+14155552671" if language == "en" else "+79161234567"
    typed_phone = "+1 415 555 2671" if language == "en" else "8 (916) 123-45-67"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def log_in(page: Page, phone: str, password: str) -> None:
        page.goto(f"{base}/login/")
        page.fill("input[name=phone]", phone)
        page.fill("input[name=password]", password)
        page.click("[data-testid=submit]")

    def log_out(page: Page) -> None:
        click_in_the_menu(page, "[data-testid=logout]")
        expect(page.locator("[data-testid=submit]")).to_have_text(words["log_in"])

    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone screen
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.click(f"[data-testid=language-{language}]")
    expect(page.locator("[data-testid=submit]")).to_have_text(words["log_in"])

    # The founder invites the newcomer's number.
    log_in(page, "+79160000001", PASSWORD)
    expect(page.locator("[data-testid=greeting]")).to_contain_text("Founder Anna")
    page.goto(f"{base}/invite/")
    page.fill("input[name=phone]", typed_phone)
    page.fill("textarea[name=note]", "See you there")
    page.click("[data-testid=submit]")
    expect(page.locator("[data-testid=invitations]")).to_contain_text("***")
    assert_fits_the_screen(page)
    log_out(page)

    # The SMS arrives; the newcomer opens the link on their phone.
    token = sms_outbox.join_token_for(newcomer_phone)
    page.goto(f"{base}/j/{token}")
    expect(page.locator("[data-testid=invited-by]")).to_contain_text("Founder Anna")
    page.fill("input[name=phone]", typed_phone)
    page.fill("input[name=display_name]", "Newcomer Boris")
    page.fill("input[name=password]", PASSWORD)
    page.select_option("select[name=language]", language)
    page.click("[data-testid=submit]")
    page.fill("input[name=code]", sms_outbox.code_for(newcomer_phone))
    page.click("[data-testid=submit]")
    expect(page.locator("[data-testid=greeting]")).to_contain_text("Newcomer Boris")
    expect(page.locator("body")).to_contain_text(words["welcome"])
    page.screenshot(path=str(SCREENSHOTS / f"joined-{language}.png"), full_page=True)
    log_out(page)

    # Log in again, then forget the password and recover it by SMS.
    log_in(page, newcomer_phone, PASSWORD)
    expect(page.locator("[data-testid=greeting]")).to_contain_text("Newcomer Boris")
    log_out(page)
    page.click("[data-testid=forgot]")
    page.fill("input[name=phone]", typed_phone)
    page.click("[data-testid=submit]")
    page.fill("input[name=code]", sms_outbox.code_for(newcomer_phone))
    page.fill("input[name=new_password]", "a brand new passphrase")
    page.click("[data-testid=submit]")
    expect(page.locator("body")).to_contain_text(words["changed"])

    log_in(page, newcomer_phone, PASSWORD)
    expect(page.locator("[data-testid=form-error]")).to_be_visible()
    log_in(page, newcomer_phone, "a brand new passphrase")
    expect(page.locator("[data-testid=greeting]")).to_contain_text("Newcomer Boris")
    page.screenshot(path=str(SCREENSHOTS / f"recovered-{language}.png"), full_page=True)
    context.close()



REQUEST_WORDS = {
    "en": {"waiting": "Waiting for a member", "granted": "Invitation sent", "country": "Russia",
           "from_request": "From an invitation request"},
    "ru": {"waiting": "Ждёт участника", "granted": "Приглашение отправлено", "country": "Россия",
           "from_request": "По запросу на приглашение"},
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_invitation_request_flow_in_chromium(
    browser: object, live_server: object, sms_outbox: SmsOutbox, language: str
) -> None:
    """Someone who knows no member asks → a member grants → SMS → the asker joins."""
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    base = str(live_server)
    words = {**WORDS[language], **REQUEST_WORDS[language]}
    make_member(display_name="Founder Anna", role=Member.Role.FOUNDER, phone="+79160000001",
                language=language)
    asker_phone = "+79165554433"
    note = "Anna's neighbour, chess on Thursdays"

    asker = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    asker.goto(f"{base}/login/")
    asker.click(f"[data-testid=language-{language}]")
    asker.goto(f"{base}/ask/")
    asker.fill("input[name=phone]", "8 916 555-44-33")
    asker.fill("textarea[name=note]", note)
    asker.select_option("select[name=language]", language)
    asker.click("[data-testid=submit]")
    expect(asker.locator("[data-testid=request-state]")).to_have_text(words["waiting"])
    assert_fits_the_screen(asker)  # the status address, long, in <code>
    status_url = asker.url
    assert not sms_outbox.to(asker_phone)

    member = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    member.goto(f"{base}/login/")
    member.click(f"[data-testid=language-{language}]")
    member.fill("input[name=phone]", "+79160000001")
    member.fill("input[name=password]", PASSWORD)
    member.click("[data-testid=submit]")
    member.goto(f"{base}/requests/")
    request = member.locator("[data-testid=request]")
    expect(request).to_contain_text(note)
    expect(request).to_contain_text(words["country"])
    expect(request).not_to_contain_text("44-33")
    member.click("[data-testid=vouch]")
    member.click("[data-testid=grant]")
    # The granter's list says where the invitation came from, never the number.
    invitations = member.locator("[data-testid=invitations]")
    expect(invitations).to_contain_text(words["from_request"])
    expect(invitations).not_to_contain_text("***")
    member.screenshot(path=str(SCREENSHOTS / f"request-granted-{language}.png"), full_page=True)

    asker.goto(f"{base}/j/{sms_outbox.join_token_for(asker_phone)}")
    expect(asker.locator("[data-testid=invited-by]")).to_contain_text("Founder Anna")
    asker.fill("input[name=phone]", "8 916 555-44-33")
    asker.fill("input[name=display_name]", "Vera")
    asker.fill("input[name=password]", PASSWORD)
    asker.select_option("select[name=language]", language)
    asker.click("[data-testid=submit]")
    asker.fill("input[name=code]", sms_outbox.code_for(asker_phone))
    asker.click("[data-testid=submit]")
    expect(asker.locator("[data-testid=greeting]")).to_contain_text("Vera")
    expect(asker.locator("body")).to_contain_text(words["welcome"])
    asker.goto(status_url)
    expect(asker.locator("[data-testid=request-state]")).to_have_text(words["granted"])
    assert Member.objects.get(display_name="Vera").invited_by == Member.objects.get(
        display_name="Founder Anna"
    )


SOCIAL_WORDS = {
    "en": {"friends": "You are friends.", "no_links": "New members cannot post links",
           "too_many": "Too many attempts", "reported": "Thank you",
           "banned_for_spam": "was banned for spam", "report_outcome": "banned Spammer Sam"},
    "ru": {"friends": "Вы друзья.", "no_links": "Новые участники пока не могут публиковать",
           "too_many": "Слишком много попыток", "reported": "Спасибо",
           "banned_for_spam": "заблокирован(а) за спам",
           "report_outcome": "забанил Spammer Sam"},
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_social_flow_spam_report_and_ban_in_chromium(
    browser: object, live_server: object, sms_outbox: SmsOutbox, clock: FrozenClock,
    language: str,
) -> None:
    """Two members invited by phone become friends, post on each other's walls and
    write to each other; a third, new, meets the new-member limits, spams by message
    anyway, is reported and banned for spam from the queue; the inviter is told and
    has a strike."""
    from playwright.sync_api import Browser, Page, expect

    from inviteonly import settings as production_settings
    from inviteonly.moderation.models import Strike

    assert isinstance(browser, Browser)
    base = str(live_server)
    words = {**WORDS[language], **SOCIAL_WORDS[language]}
    # The production limits, in a fixed window starting at the top of the hour.
    clock.current = clock.current.replace(minute=0, second=0)
    limits = override_settings(RATE_LIMITS=production_settings.RATE_LIMITS)
    limits.enable()
    try:
        founder = make_member(display_name="Founder Anna", role=Member.Role.FOUNDER,
                              phone="+79160000001", language=language)
        make_member(display_name="Mod Oleg", role=Member.Role.MODERATOR,
                    phone="+79160000002", language=language)

        def signed_in(phone: str) -> Page:
            page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            page.goto(f"{base}/login/")
            page.click(f"[data-testid=language-{language}]")
            page.fill("input[name=phone]", phone)
            page.fill("input[name=password]", PASSWORD)
            page.click("[data-testid=submit]")
            expect(page.locator("[data-testid=greeting]")).to_be_visible()
            return page

        def invited_and_joined(inviter: Page, phone: str, name: str) -> tuple[Page, Member]:
            inviter.goto(f"{base}/invite/")
            inviter.fill("input[name=phone]", phone)
            inviter.click("[data-testid=submit]")
            expect(inviter.locator("[data-testid=invitations]")).to_contain_text("***")
            page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            page.goto(f"{base}/login/")
            page.click(f"[data-testid=language-{language}]")
            page.goto(f"{base}/j/{sms_outbox.join_token_for(phone)}")
            page.fill("input[name=phone]", phone)
            page.fill("input[name=display_name]", name)
            page.fill("input[name=password]", PASSWORD)
            page.select_option("select[name=language]", language)
            page.click("[data-testid=submit]")
            page.fill("input[name=code]", sms_outbox.code_for(phone))
            page.click("[data-testid=submit]")
            expect(page.locator("[data-testid=greeting]")).to_contain_text(name)
            return page, Member.objects.get(display_name=name)

        def post(page: Page, wall: Member, text: str) -> None:
            page.goto(f"{base}/members/{wall.id}/")
            page.fill("[data-testid=post-form] textarea", text)
            page.click("[data-testid=post-form] [data-testid=post]")

        def write(page: Page, to: Member, text: str) -> None:
            page.goto(f"{base}/messages/{to.id}/")
            page.fill("textarea[name=text]", text)
            page.click("[data-testid=send]")

        anna = signed_in("+79160000001")
        ira, ira_member = invited_and_joined(anna, "+79161110001", "Ira")
        petr, petr_member = invited_and_joined(anna, "+79161110002", "Petr")

        # Friends, posts on each other's walls, messages both ways.
        ira.goto(f"{base}/members/{petr_member.id}/")
        ira.click("[data-testid=add-friend]")
        petr.goto(f"{base}/members/{ira_member.id}/")
        petr.click("[data-testid=accept-friend]")
        expect(petr.locator("[data-testid=are-friends]")).to_have_text(words["friends"])
        post(ira, petr_member, "Happy birthday, Petr!")
        post(petr, ira_member, "Thanks, Ira! See you Sunday.")
        expect(ira.locator("[data-testid=post]").first).to_be_visible()
        ira.goto(f"{base}/members/{ira_member.id}/")
        expect(ira.locator("article[data-testid=post]")).to_contain_text("See you Sunday")
        write(ira, petr_member, "Bring the chess board")
        write(petr, ira_member, "Will do")
        expect(petr.locator("[data-testid=messages]")).to_contain_text("Bring the chess board")
        expect(petr.locator("[data-testid=messages]")).to_contain_text("Will do")

        # A newcomer meets the new-member limits: no links, five posts an hour.
        sam, sam_member = invited_and_joined(anna, "+79161110003", "Spammer Sam")
        post(sam, sam_member, "Cheap watches at watches.example.com")
        expect(sam.locator("#id_text_error")).to_contain_text(words["no_links"])  # by its box
        for number in range(5):
            post(sam, sam_member, f"Cheap watches, write to me ({number})")
        post(sam, sam_member, "Cheap watches, one more")
        expect(sam.locator("[role=status]")).to_contain_text(words["too_many"])
        expect(sam.locator("article[data-testid=post]")).to_have_count(5)
        # Spams anyway: messages to members who accept messages from everyone.
        write(sam, ira_member, "Cheap watches! Write back for the address")
        write(sam, petr_member, "Cheap watches! Write back for the address")

        # Ira reports the message.
        ira.goto(f"{base}/messages/{sam_member.id}/")
        ira.click("[data-testid=report-message]")
        ira.check("input[name=reason][value=spam]")
        ira.fill("textarea[name=details]", "Ads from a stranger")
        ira.click("[data-testid=submit-report]")
        expect(ira.locator("[role=status]")).to_contain_text(words["reported"])

        # The moderator bans Sam for spam from the queue.
        oleg = signed_in("+79160000002")
        click_in_the_menu(oleg, "[data-testid=report-queue-link]")
        item = oleg.locator("[data-testid=report-item]")
        expect(item).to_have_count(1)
        expect(item).to_contain_text("Cheap watches! Write back")
        expect(item.locator("[data-testid=reported-author]")).to_have_text("Spammer Sam")
        item.locator("select[name$=decision]").select_option("ban")
        item.locator("textarea[name$=reason]").fill("Advertising by message")
        item.locator("input[name$=for_spam]").check()
        item.locator("[data-testid=resolve]").click()
        expect(oleg.locator("[data-testid=no-reports]")).to_be_visible()
        oleg.screenshot(path=str(SCREENSHOTS / f"queue-{language}.png"), full_page=True)

        # The inviter is told (a founder: a moderator's ban gives them no strike); the
        # reporter learns the outcome.
        anna.goto(f"{base}/")
        expect(anna.locator("[data-testid=notifications]")).to_contain_text(
            words["banned_for_spam"]
        )
        anna.screenshot(path=str(SCREENSHOTS / f"inviter-notified-{language}.png"),
                        full_page=True)
        ira.goto(f"{base}/")
        expect(ira.locator("[data-testid=notifications]")).to_contain_text(
            words["report_outcome"]
        )
        sam.goto(f"{base}/members/{ira_member.id}/")
        expect(sam.locator("[data-testid=submit]")).to_have_text(words["log_in"])
        assert not Strike.objects.filter(member=founder).exists()
        sam_member.refresh_from_db()
        assert sam_member.status == Member.Status.BANNED
    finally:
        limits.disable()


PHONE_SCREEN = {"width": 375, "height": 667}


def signed_in_page(browser: Any, base: str, phone: str, *, language: str = "en") -> Any:
    from playwright.sync_api import expect

    page = browser.new_context(viewport=PHONE_SCREEN).new_page()
    page.goto(f"{base}/login/")
    page.click(f"[data-testid=language-{language}]")
    page.fill("input[name=phone]", phone)
    page.fill("input[name=password]", PASSWORD)
    page.click("[data-testid=submit]")
    expect(page.locator("[data-testid=greeting]")).to_be_visible()
    return page


# Each radio button or checkbox, its box and the box of the words of its label.
CHOICES_AND_THEIR_WORDS = """() => [...document.querySelectorAll(
    'main input[type=radio], main input[type=checkbox]')].map(input => {
  const label = input.closest('label') || document.querySelector(`label[for="${input.id}"]`);
  const words = document.createRange();
  words.selectNodeContents(label);
  if (label.contains(input)) words.setStartAfter(input);
  const [first] = words.getClientRects();
  const box = input.getBoundingClientRect();
  return {name: input.name, box: [box.left, box.top, box.width, box.height],
          words: [first.left, first.top, first.height],
          tapped: label.getBoundingClientRect().height};
})"""


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_choice_sits_beside_its_words_on_a_phone(
    browser: object, live_server: object, language: str
) -> None:
    """A radio button or a checkbox is a box just before its words, on their line — not
    stretched across the screen between two answers, where nobody can tell whose it
    is — and the whole line can be tapped."""
    base = str(live_server)
    make_member(display_name="Founder Anna", role=Member.Role.FOUNDER, phone="+79160000001",
                language=language)
    boris = make_member(display_name="Boris")
    page = signed_in_page(browser, base, "+79160000001", language=language)
    choices = []
    for path in (f"/report/profile/{boris.id}/", "/profile/"):
        page.goto(f"{base}{path}")
        page.screenshot(path=str(SCREENSHOTS / f"choices{path.replace('/', '-')}{language}.png"),
                        full_page=True)
        choices += page.evaluate(CHOICES_AND_THEIR_WORDS)
    assert {choice["name"] for choice in choices} == {"reason", "findable_by_phone"}
    for choice in choices:
        left, top, width, height = choice["box"]
        words_left, words_top, line_height = choice["words"]
        assert width <= 32, choice
        assert left + width <= words_left, choice  # before its words…
        assert words_top - height < top < words_top + line_height, choice  # …on their line
        assert choice["tapped"] >= 44, choice


# The words of a table that the browser broke across two lines.
BROKEN_WORDS = """selector => {
  const broken = [];
  for (const table of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(table, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const word of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].map(rect => Math.round(rect.top)));
        if (lines.size > 1) broken.push(word[0]);
      }
    }
  }
  return broken;
}"""


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_table_keeps_its_words_whole_on_a_phone(
    browser: object, live_server: object, sms_outbox: SmsOutbox, language: str
) -> None:
    """A table too wide for a phone scrolls inside itself; it does not squeeze its
    columns until "Status", a date or "Revoke" are cut into pieces of letters."""
    from inviteonly.invitations.actions import do_invite_by_phone

    base = str(live_server)
    founder = make_member(display_name="Founder Anna", role=Member.Role.FOUNDER,
                          phone="+79160000001", language=language)
    do_invite_by_phone(inviter=founder, phone="+79161234567")
    make_member(display_name="Boris", invited_by=founder)
    page = signed_in_page(browser, base, "+79160000001", language=language)
    for path in ("/invitations/", "/tree/"):
        page.goto(f"{base}{path}")
        page.screenshot(path=str(SCREENSHOTS / f"table{path.replace('/', '-')}{language}.png"),
                        full_page=True)
        assert page.evaluate(BROKEN_WORDS, "main table") == [], path
        assert_fits_the_screen(page)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_tables_row_action_is_on_a_phones_screen(
    browser: object, live_server: object, sms_outbox: SmsOutbox, language: str
) -> None:
    """A row's action sits in a table's last column, which on a phone began past the
    screen's right edge: "Revoke" an invitation, "Log out" a session or end a sanction
    could be found only by scrolling the table sideways, which nothing on the screen
    suggested. The column stays in view while the rest of the table scrolls under it."""
    from inviteonly.invitations.actions import do_invite_by_phone
    from inviteonly.moderation.actions import do_warn_member

    base = str(live_server)
    founder = make_member(display_name="Founder Anna", role=Member.Role.FOUNDER,
                          phone="+79160000001", language=language)
    invitation = do_invite_by_phone(inviter=founder, phone="+79161234567")
    boris = make_member(display_name="Boris", invited_by=founder)
    do_warn_member(member=boris, moderator=founder, reason="Flooding the walls of strangers")
    signed_in_page(browser, base, "+79160000001", language=language)  # another session
    page = signed_in_page(browser, base, "+79160000001", language=language)
    for path, action in (
        ("/invitations/", f"[data-testid=revoke-{invitation.id}]"),
        ("/profile/sessions/", "[data-testid^=end-]:not([data-testid=end-others])"),
        (f"/moderation/members/{boris.id}/", "[data-testid=sanctions] summary"),
    ):
        page.goto(f"{base}{path}")
        page.screenshot(path=str(SCREENSHOTS / f"row-action{path.replace('/', '-')}"
                                 f"{language}.png"), full_page=True)
        left, right = page.evaluate(
            "selector => (box => [box.left, box.right])("
            "document.querySelector(selector).getBoundingClientRect())", action)
        assert left >= 0 and right <= PHONE_SCREEN["width"], (path, left, right)
        assert_fits_the_screen(page)


# Each visible button or link of a selector: its box, and the style it is drawn in.
BOXES_AND_LOOKS = """selector => [...document.querySelectorAll(selector)]
  .filter(element => element.offsetParent !== null).map(element => {
    const box = element.getBoundingClientRect(), style = getComputedStyle(element);
    return {text: element.textContent.trim(), box: [box.left, box.top, box.right, box.bottom],
            look: [style.color, style.textDecorationLine]};
  })"""


def assert_apart(boxes: list[dict[str, Any]]) -> None:
    """No two of the boxes touch: 8 px at least between them, across or down."""
    for number, first in enumerate(boxes):
        for second in boxes[number + 1:]:
            left, top, right, bottom = first["box"]
            other_left, other_top, other_right, other_bottom = second["box"]
            apart = max(other_left - right, left - other_right, other_top - bottom,
                        top - other_bottom)
            assert apart >= 8, (first, second)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_profiles_actions_are_apart_and_alike_on_a_phone(
    browser: object, live_server: object, language: str
) -> None:
    """On a phone a profile's buttons wrapped onto lines that touched ("Add to friends"
    on "Write a message"), and "Report" — a link in the browser's own blue, underlined —
    looked like another kind of thing than "Block" beside it."""
    base = str(live_server)
    anna = make_member(display_name="Founder Anna", role=Member.Role.FOUNDER,
                       phone="+79160000001", language=language)
    make_member(display_name="Boris", phone="+79160000002", language=language)
    page = signed_in_page(browser, base, "+79160000002", language=language)
    page.goto(f"{base}/members/{anna.id}/")
    page.screenshot(path=str(SCREENSHOTS / f"profile-actions-{language}.png"), full_page=True)
    actions = page.evaluate(BOXES_AND_LOOKS, ".actions button, .actions a")
    assert len(actions) == 4, actions
    assert_apart(actions)
    links = {action["text"]: action["look"] for action in actions
             if action["text"] not in (actions[0]["text"], actions[1]["text"])}
    assert len({tuple(look) for look in links.values()}) == 1, links  # Block and Report alike


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_language_buttons_are_a_fingers_size_on_a_phone(
    browser: object, live_server: object, language: str
) -> None:
    """"EN" and "RU" were 24 px squares 4 px apart: a thumb meant for one pressed the
    other. Each is now at least 44 px each way, and they do not overlap."""
    base = str(live_server)
    make_member(display_name="Founder Anna", role=Member.Role.FOUNDER, phone="+79160000001",
                language=language)
    visitor = browser.new_context(viewport=PHONE_SCREEN).new_page()  # type: ignore[attr-defined]
    visitor.goto(f"{base}/login/")
    member = signed_in_page(browser, base, "+79160000001", language=language)
    # The home page's invite button and the link beside it, which wraps in Russian.
    assert_apart(member.evaluate(BOXES_AND_LOOKS, "main .button, main a[href='/invitations/']"))
    for page in (visitor, member):
        page.screenshot(path=str(SCREENSHOTS / f"language-buttons-{language}.png"))
        [english, russian] = [box for box in page.evaluate(
            BOXES_AND_LOOKS, "header .language button")]
        for button in (english, russian):
            left, top, right, bottom = button["box"]
            assert right - left >= 44 and bottom - top >= 44, button
        assert english["box"][2] <= russian["box"][0], (english, russian)
        assert_fits_the_screen(page)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_refused_field_is_on_the_screen_after_sending(
    browser: object, live_server: object, language: str
) -> None:
    """The invite page is long on a phone (the rules come first); after a refusal the
    page opens at the refused field with its error in view, focused, not at the top
    with the error a screen and a half further down."""
    base = str(live_server)
    make_member(display_name="Founder Anna", role=Member.Role.FOUNDER, phone="+79160000001",
                language=language)
    page = signed_in_page(browser, base, "+79160000001", language=language)
    page.goto(f"{base}/invite/")
    page.fill("input[name=phone]", "8 800 555-35-35")  # toll-free: refused
    page.click("[data-testid=submit]")
    page.wait_for_load_state("load")
    error = page.locator("#id_phone_error")
    assert error.is_visible()
    top, bottom, height = page.evaluate(
        "[...(r => [r.top, r.bottom])(document.getElementById('id_phone_error')"
        ".getBoundingClientRect()), window.innerHeight]"
    )
    page.screenshot(path=str(SCREENSHOTS / f"refused-field-{language}.png"))
    assert top >= 0 and bottom <= height, (top, bottom, height)
    assert page.evaluate("document.activeElement.id") == "id_phone"


PASSWORD_WORDS = {
    "en": {"wrong": "The current password is wrong.", "changed": "Your password has been changed"},
    "ru": {"wrong": "Текущий пароль неверен.", "changed": "Пароль изменён"},
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_changing_the_password_on_a_phone(
    browser: object, live_server: object, language: str
) -> None:
    """From the profile page to a new password on a phone's screen: a wrong current
    password is refused next to its field; the right one changes it, and the member
    stays logged in."""
    from playwright.sync_api import expect

    base = str(live_server)
    words = PASSWORD_WORDS[language]
    make_member(display_name="Founder Anna", role=Member.Role.FOUNDER, phone="+79160000001",
                language=language)
    page = signed_in_page(browser, base, "+79160000001", language=language)
    page.goto(f"{base}/profile/")
    page.click("[data-testid=change-password]")
    page.fill("input[name=current_password]", "not the password")
    page.fill("input[name=new_password]", "a brand new passphrase")
    page.click("[data-testid=submit]")
    expect(page.locator("#id_current_password_error")).to_have_text(words["wrong"])
    assert page.evaluate("document.activeElement.id") == "id_current_password"
    assert_fits_the_screen(page)
    page.screenshot(path=str(SCREENSHOTS / f"password-refused-{language}.png"), full_page=True)
    page.fill("input[name=current_password]", PASSWORD)
    page.fill("input[name=new_password]", "a brand new passphrase")
    page.click("[data-testid=submit]")
    expect(page.locator("[role=status]")).to_contain_text(words["changed"])
    page.goto(f"{base}/")
    expect(page.locator("[data-testid=greeting]")).to_contain_text("Founder Anna")


@pytest.mark.parametrize("language", ["en", "ru"])
def test_moving_to_a_new_number_on_a_phone(
    browser: object, live_server: object, sms_outbox: SmsOutbox, language: str
) -> None:
    """From the home page: the password and the new number, then the code; the
    account shows the new number, masked, and every page fits the screen."""
    from playwright.sync_api import expect

    base = str(live_server)
    make_member(display_name="Vera", phone="+79160000001", language=language)
    page = signed_in_page(browser, base, "+79160000001", language=language)
    page.click("[data-testid=phone-change]")
    assert page.get_attribute("input[name=phone]", "type") == "tel"
    assert page.get_attribute("input[name=phone]", "autocomplete") == "tel"
    assert_fits_the_screen(page)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=phone]", "8 916 222-00-22")  # national: the current one's country
    page.click("[data-testid=submit]")
    assert page.get_attribute("input[name=code]", "autocomplete") == "one-time-code"
    assert page.get_attribute("input[name=code]", "inputmode") == "numeric"
    assert_fits_the_screen(page)
    page.fill("input[name=code]", sms_outbox.code_for("+79162220022"))
    page.click("[data-testid=submit]")
    expect(page.locator("[data-testid=phone-masked]")).to_have_text("+7 916 ***-**-22")
    page.screenshot(path=str(SCREENSHOTS / f"moved-{language}.png"), full_page=True)
    assert_fits_the_screen(page)
    assert "+7 916 ***-**-22" in sms_outbox.last_text_to("+79160000001")  # the old number


MENU_WORDS = {
    "en": {"menu": "Menu", "nav": "Main menu", "invite": "Invite"},
    "ru": {"menu": "Меню", "nav": "Главное меню", "invite": "Пригласить"},
}
# The header's height, and what two lines of it may take: its padding, two lines of
# text and the gap between them.
HEADER_AND_TWO_LINES = """() => {
  const header = document.querySelector('header.top');
  const style = getComputedStyle(header);
  const px = value => parseFloat(value) || 0;
  return [header.getBoundingClientRect().height,
          px(style.paddingTop) + px(style.paddingBottom) + 2 * px(style.lineHeight)
          + px(style.rowGap)];
}"""


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_header_of_a_member_is_at_most_two_lines_on_a_narrow_phone(
    browser: object, live_server: object, language: str
) -> None:
    """A logged-in member's header on a 360 px screen was five lines of links before any
    content; the links now wait behind a menu that opens without JavaScript, from the
    keyboard too, and is named for screen readers in the reader's language. On a wide
    screen they are all in view, as before."""
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    base = str(live_server)
    words = MENU_WORDS[language]
    # A founder's header has the most links: the moderators' pages and the admin too.
    make_member(display_name="Founder Anna", role=Member.Role.FOUNDER, phone="+79160000001",
                language=language)
    context = browser.new_context(
        viewport={"width": 360, "height": 640}, java_script_enabled=False
    )
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("input[name=phone]", "+79160000001")
    page.fill("input[name=password]", PASSWORD)
    page.click("[data-testid=submit]")
    expect(page.locator("[data-testid=greeting]")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == language
    page.wait_for_load_state("load")  # the stylesheet too

    height, two_lines = page.evaluate(HEADER_AND_TWO_LINES)
    page.screenshot(path=str(SCREENSHOTS / f"header-360-{language}.png"))
    assert height <= two_lines, f"the header is {height}px tall; two lines are {two_lines}px"
    assert_fits_the_screen(page)
    invite = page.get_by_role("navigation", name=words["nav"]).get_by_role(
        "link", name=words["invite"], exact=True
    )
    expect(invite).to_be_hidden()

    # Opened from the keyboard: the menu button is reached by Tab and named.
    menu = page.locator("header summary")
    expect(menu).to_have_text(words["menu"])
    for _tab in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "SUMMARY":
            break
    page.keyboard.press("Enter")
    expect(invite).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / f"header-360-open-{language}.png"))
    assert_fits_the_screen(page)
    invite.click()
    expect(page.locator("input[name=phone]")).to_be_visible()  # the invite page

    # A wide screen shows every link at once, no menu to open.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{base}/")
    expect(menu).to_be_hidden()
    expect(invite).to_be_visible()
    expect(page.locator("[data-testid=logout]")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / f"header-wide-{language}.png"))
    context.close()



EMPTY_FORM_WORDS = {
    "en": {"required": "This field is required.", "empty_post": "Write something first.",
           "no_picture": "Choose a picture to upload."},
    "ru": {"required": "Это поле обязательно.", "empty_post": "Сначала напишите что-нибудь.",
           "no_picture": "Выберите картинку для загрузки."},
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_form_sent_empty_is_answered_by_the_site_in_the_pages_language(
    browser: object, live_server: object, language: str
) -> None:
    """A message, a wall post, a search by number or an avatar sent empty: the browser
    stopped these forms itself, with a bubble in its own language (English on a Russian
    page in an English browser, and no bubble at all in some), where every other form
    of the site lets the site answer, next to the field, in the page's language."""
    from playwright.sync_api import expect

    base = str(live_server)
    words = EMPTY_FORM_WORDS[language]
    anna = make_member(display_name="Anna", phone="+79160000001", language=language)
    boris = make_member(display_name="Boris")
    page = signed_in_page(browser, base, "+79160000001", language=language)

    page.goto(f"{base}/messages/{boris.id}/")
    page.click("[data-testid=send]")
    expect(page.locator("#id_text_error")).to_have_text(words["required"])
    page.goto(f"{base}/friends/")
    page.click("main form button[type=submit]")
    expect(page.locator("#id_phone_error")).to_have_text(words["required"])
    page.goto(f"{base}/members/{anna.id}/")
    page.click("[data-testid=post]")
    expect(page.locator("[role=status]")).to_have_text(words["empty_post"])
    page.goto(f"{base}/profile/")
    page.click("[data-testid=upload-avatar]")
    expect(page.locator("[role=status]")).to_have_text(words["no_picture"])
    assert_fits_the_screen(page)
