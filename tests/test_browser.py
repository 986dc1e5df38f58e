"""The whole membership flow in real Chromium, once in English and once in Russian:
invite → SMS → join → code → account → logout → login → recovery → new password."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from inviteonly.accounts.models import Member
from tests.conftest import PASSWORD, SmsOutbox, make_member, skip_or_fail

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
        page.click("[data-testid=logout]")
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
    "en": {"waiting": "Waiting for a member", "granted": "Invitation sent", "country": "Russia"},
    "ru": {"waiting": "Ждёт участника", "granted": "Приглашение отправлено", "country": "Россия"},
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
    expect(member.locator("[data-testid=invitations]")).to_contain_text("***")
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
