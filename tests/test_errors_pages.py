"""Error pages in the reader's language (DEBUG is off here, as in production), the API's
shape for the same errors under /api/, and a language switch that ignores unknown codes.

The module is also the URL map of the tests that need a view that fails
(``pytest.mark.urls``): the site's own patterns and error handlers, plus two that raise.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template import loader
from django.test import Client, override_settings
from django.urls import path
from django.utils import translation
from pytest_django import DjangoAssertNumQueries

from inviteonly import urls as site_urls
from inviteonly.accounts.models import Member
from inviteonly.social.models import FriendRequest
from tests.conftest import PASSWORD, make_member

pytestmark = pytest.mark.django_db


def fail(request: HttpRequest) -> Any:
    raise RuntimeError("a bug")


def forbid(request: HttpRequest) -> Any:
    raise PermissionDenied


urlpatterns = [
    path("api/fail", fail),
    path("fail/", fail),
    path("api/forbidden", forbid),
    path("forbidden/", forbid),
    *site_urls.urlpatterns,
]
handler400 = site_urls.handler400
handler403 = site_urls.handler403
handler404 = site_urls.handler404
handler500 = site_urls.handler500

NOT_FOUND = {"en": "Page not found", "ru": "Страница не найдена"}
BAD_REQUEST = {"en": "The request could not be processed", "ru": "Запрос не удалось обработать"}
BAD_REQUEST_EXPLAINED = {
    "en": "The site could not accept what the browser sent",
    "ru": "Сайт не смог принять то, что отправил браузер",
}
SERVER_ERROR = {"en": "Something went wrong", "ru": "Что-то пошло не так"}


def page(response: Any) -> str:
    assert response["Content-Type"] == "text/html; charset=utf-8"
    return response.content.decode()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_unknown_page_says_so_in_the_readers_language(language: str) -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get("/nope/")
    assert response.status_code == 404
    text = page(response)
    assert NOT_FOUND[language] in text
    assert f'<html lang="{language}">' in text
    assert 'href="/login/"' in text  # the site's own header, not Django's bare page


@override_settings(PUBLIC_TREE_PAGE=True)
@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("hidden", [True, False])
def test_hidden_or_unknown_member_of_the_public_tree_gets_the_404_page(
    founder: Member, language: str, hidden: bool
) -> None:
    member = make_member(invited_by=founder)
    member.hidden_from_public_tree = hidden
    member.save(update_fields=["hidden_from_public_tree"])
    member_id = member.id if hidden else member.id + 1000
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get(f"/tree/public/{member_id}/")
    assert response.status_code == 404
    assert NOT_FOUND[language] in page(response)


def test_the_404_page_keeps_the_signed_in_members_header(founder: Member) -> None:
    client = Client()
    client.post("/login/", {"phone": "+79160000001", "password": PASSWORD})
    client.post("/language/", {"language": "ru", "next": "/"})
    text = page(client.get("/nope/"))
    assert NOT_FOUND["ru"] in text
    assert f'href="/members/{founder.id}/"' in text


@pytest.mark.parametrize("language", ["en", "ru"])
def test_oversize_form_gets_the_400_page(language: str) -> None:
    form = {"phone": "+79160000001", "password": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}
    response = Client(HTTP_ACCEPT_LANGUAGE=language).post("/login/", form)
    assert response.status_code == 400
    text = page(response)
    assert BAD_REQUEST[language] in text
    assert BAD_REQUEST_EXPLAINED[language] in text
    assert f'<html lang="{language}">' in text
    assert "Bad Request (400)" not in text


@override_settings(ALLOWED_HOSTS=["testserver"])
@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_host_the_site_does_not_answer_to_gets_a_400_page_that_fits_it(
    language: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    text = page(response)
    assert BAD_REQUEST[language] in text
    assert BAD_REQUEST_EXPLAINED[language] in text
    # A stranger's Host header is the internet's noise, not the site's failure: a
    # warning without a traceback, not an ERROR for the operator's alerting.
    [record] = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert record.levelname == "WARNING"
    assert record.exc_info is None and record.exc_text is None
    assert "evil.example" in record.getMessage()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_500_page_needs_no_request_and_no_database(
    django_assert_num_queries: DjangoAssertNumQueries, language: str
) -> None:
    with translation.override(language), django_assert_num_queries(0):
        text = loader.get_template("500.html").render()
    assert SERVER_ERROR[language] in text
    assert f'<html lang="{language}">' in text


@pytest.mark.urls("tests.test_errors_pages")
@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_failing_page_gets_the_500_page(language: str) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE=language, raise_request_exception=False)
    response = client.get("/fail/")
    assert response.status_code == 500
    assert SERVER_ERROR[language] in page(response)


@pytest.mark.urls("tests.test_errors_pages")
@pytest.mark.parametrize(("language", "heading"), [("en", "Not allowed"), ("ru", "Нельзя")])
def test_a_forbidden_page_is_the_sites_page_in_the_readers_language(
    language: str, heading: str
) -> None:
    """A PermissionDenied nothing else answered (the admin raises them) was Django's
    bare English page."""
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get("/forbidden/")
    assert response.status_code == 403
    text = page(response)
    assert f"<h1>{heading}</h1>" in text and f'<html lang="{language}">' in text
    assert 'href="/login/"' in text  # the site's own header
    api = Client(HTTP_ACCEPT_LANGUAGE=language).get("/api/forbidden")
    assert (api.status_code, api.json()["code"]) == (403, "forbidden")


@pytest.mark.urls("tests.test_errors_pages")
def test_a_failure_under_the_api_answers_in_the_api_shape() -> None:
    english = Client(raise_request_exception=False).get("/api/fail")
    russian = Client(HTTP_ACCEPT_LANGUAGE="ru", raise_request_exception=False).get("/api/fail")
    assert english.status_code == russian.status_code == 500
    assert english.json()["code"] == russian.json()["code"] == "server_error"
    assert english.json()["detail"] != russian.json()["detail"]


def test_unknown_language_changes_nothing_for_a_member() -> None:
    make_member(phone="+79165550001", language="ru")
    client = Client()
    client.post("/login/", {"phone": "+79165550001", "password": PASSWORD})
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"
    response = client.post("/language/", {"language": "xx", "next": "/friends/"})
    # Back where the switch was pressed, as after a known language.
    assert response.status_code == 302
    assert response["Location"] == "/friends/"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert Member.objects.get(display_name="Member").language == "ru"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"
    assert "Здравствуйте" in client.get("/").content.decode()


def test_unknown_language_keeps_a_visitors_cookie() -> None:
    client = Client()
    client.post("/language/", {"language": "ru", "next": "/"})
    response = client.post("/language/", {"language": "xx", "next": "/"})
    assert response.status_code == 302
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"


FORM_EXPIRED = {"en": "This form has expired", "ru": "Срок действия формы истёк"}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_form_sent_without_its_csrf_token_gets_the_sites_page_in_the_readers_language(
    founder: Member, language: str
) -> None:
    """A form that was open too long, or sent after a log-in in another tab, fails its
    CSRF check. That was Django's bare page: in English on a Russian site (its <html
    lang>, its title), too small to read on a phone, in words of cookies and "CSRF", and
    pointing at the DEBUG setting. Now it is the site's page, saying what to do; and,
    as it sets a fresh token, the form sent again from a reloaded page goes through."""
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE=language)
    form = {"phone": "+79160000001", "password": PASSWORD}
    response = client.post("/login/", form)
    assert response.status_code == 403
    text = page(response)
    assert f'<html lang="{language}">' in text
    assert f"<title>{FORM_EXPIRED[language]} · " in text
    assert f"<h1>{FORM_EXPIRED[language]}</h1>" in text
    assert 'name="viewport"' in text and 'href="/login/"' in text  # the site's own page
    assert "DEBUG" not in text and "CSRF" not in text
    assert "_auth_user_id" not in client.session
    reloaded = page(client.get("/login/"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', reloaded)
    assert token is not None
    sent_again = client.post("/login/", {**form, "csrfmiddlewaretoken": token[1]})
    assert sent_again.status_code == 302
    assert client.session["_auth_user_id"] == str(founder.id)


SENT_ONLY = {"en": "This address only receives forms", "ru": "Этот адрес только принимает формы"}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_opening_a_forms_address_gets_the_sites_page_not_a_blank_one(language: str) -> None:
    """A member whose session has ended taps "Add to friends": the log-in page brings
    them back to the address the button sent to, which takes only a POST. That was a
    blank white page (405, empty body); it is now the site's page, in their language,
    saying to go back and send again. Opening the address did nothing."""
    anna = make_member(display_name="Anna", phone="+79160000001", language=language)
    boris = make_member(display_name="Boris")
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    to_login = client.post(f"/members/{boris.id}/befriend")
    assert to_login.status_code == 302
    back = to_login["Location"].partition("next=")[2]
    logged_in = client.post(f"/login/?next={back}",
                            {"phone": "+79160000001", "password": PASSWORD, "next": back})
    response = client.get(logged_in["Location"])
    assert response.status_code == 405 and response["Allow"] == "POST"
    text = page(response)
    assert f'<html lang="{language}">' in text
    assert f"<h1>{SENT_ONLY[language]}</h1>" in text
    assert f"<title>{SENT_ONLY[language]} · " in text
    assert f'href="/members/{anna.id}/"' in text  # the member's own header
    assert not FriendRequest.objects.exists()
    # Under /api/ the API answers in its own shape.
    api = client.get("/api/join")
    assert api.status_code == 405 and api.json()["code"] == "method_not_allowed"
