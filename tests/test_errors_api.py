"""Errors that Django or django-ninja would answer in their own way — a body over the
size limit, an unknown path, a wrong method, a value out of range — keep the API's
``{"code", "detail", "field"}`` shape and the request's language."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from inviteonly.accounts.models import Member
from inviteonly.api.errors import validation_error_detail
from tests.conftest import ApiClient, make_member

pytestmark = pytest.mark.django_db

BODY_LIMIT_KB = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024


def assert_api_error(response: Any, *, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "detail", "field"}
    assert body["code"] == code
    return body


@pytest.mark.parametrize(
    ("language", "detail"),
    [
        ("en", f"The request body is too large: at most {BODY_LIMIT_KB} KB."),
        ("ru", f"Тело запроса слишком велико: не более {BODY_LIMIT_KB} КБ."),
    ],
)
def test_body_over_the_limit_gets_413(founder: Member, language: str, detail: str) -> None:
    body = json.dumps({"phone": "+79160000001", "password": "x" * 70_000})
    response = Client(HTTP_ACCEPT_LANGUAGE=language).post(
        "/api/session", body, content_type="application/json"
    )
    assert assert_api_error(response, status=413, code="request_too_large")["detail"] == detail


def test_body_over_the_limit_of_a_signed_in_request_gets_413(founder: Member) -> None:
    api = ApiClient("ru")
    api.log_in("+79160000001")
    response = api.request("PUT", "/profile", {"about": "x" * 70_000})
    assert_api_error(response, status=413, code="request_too_large")


@pytest.mark.parametrize(
    ("language", "detail"),
    [
        ("en", "There is no such API address: see /api/docs for the list."),
        ("ru", "В API нет такого адреса: список адресов — на /api/docs."),
    ],
)
@pytest.mark.parametrize("path", ["/api/nope", "/api/", "/api/session/", "/api/v2/session"])
def test_unknown_api_path_gets_404(path: str, language: str, detail: str) -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get(path)
    assert assert_api_error(response, status=404, code="not_found")["detail"] == detail


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("PATCH", "/api/profile", "GET, PUT"), ("GET", "/api/session", "DELETE, POST")],
)
@pytest.mark.parametrize(
    ("language", "detail"),
    [
        ("en", "This address does not take {method}, only {allowed}."),
        ("ru", "Этот адрес не принимает {method}, только {allowed}."),
    ],
)
def test_wrong_method_gets_405_with_allow(
    method: str, path: str, allowed: str, language: str, detail: str
) -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE=language).generic(method, path)
    body = assert_api_error(response, status=405, code="method_not_allowed")
    assert response["Allow"] == allowed
    assert body["detail"] == detail.format(method=method, allowed=allowed)


def test_openapi_document_still_lists_only_the_operations() -> None:
    document = json.loads(Client().get("/api/openapi.json").content)
    assert all(path.startswith("/api/") and path != "/api/" for path in document["paths"])
    assert set(document["paths"]["/api/session"]) == {"post", "delete"}


@pytest.mark.parametrize(
    ("path", "language", "detail"),
    [
        ("/members/{id}/wall?limit=0", "en", "limit: This value is too small: at least 1."),
        ("/members/{id}/wall?limit=0", "ru", "limit: Слишком маленькое значение: не менее 1."),
        ("/members/{id}/wall?before=99999999999999999999999", "en",
         f"before: This value is too large: at most {2**62}."),
        ("/members/{id}/wall?before=99999999999999999999999", "ru",
         f"before: Слишком большое значение: не более {2**62}."),
        ("/moderation/reports?before=0", "en", "before: This value is too small: at least 1."),
        ("/moderation/reports?before=0", "ru",
         "before: Слишком маленькое значение: не менее 1."),
    ],
)
def test_range_errors_state_the_bound(
    founder: Member, path: str, language: str, detail: str
) -> None:
    api = ApiClient(language)
    api.log_in("+79160000001")
    response = api.get(path.format(id=make_member().id))
    body = assert_api_error(response, status=422, code="invalid_request")
    assert body["detail"] == detail
    assert body["field"] == path.split("?")[1].split("=")[0]


@pytest.mark.parametrize(
    ("kind", "context", "detail"),
    [
        ("greater_than", {"gt": 0}, "This value is too small: it must be greater than 0."),
        ("less_than", {"lt": 10}, "This value is too large: it must be less than 10."),
        ("greater_than_equal", {"ge": 1}, "This value is too small: at least 1."),
        ("less_than_equal", {"le": 100}, "This value is too large: at most 100."),
    ],
)
def test_every_bound_kind_is_stated(kind: str, context: dict[str, int], detail: str) -> None:
    error = {"type": kind, "loc": ("query", "count"), "ctx": context}
    assert validation_error_detail([error]) == ("count", f"count: {detail}")


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_list_pages_by_cursor_as_the_document_says() -> None:
    """The API's description promises one paging rule: a page's ``next_before``
    (``next_after``) is the next page's ``before`` (``after``). Every list keeps it;
    none pages by offset, which repeats or skips items that come and go between pages."""
    document = json.loads(Client().get("/api/openapi.json").content)
    paged = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            assert not query & {"offset", "page"}, (method, path)
            cursors = query & {"before", "after"}
            if not cursors:
                continue
            paged.append(path)
            answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
            properties = _schema(document, answer).get("properties", {})
            for cursor in cursors:
                assert f"next_{cursor}" in properties, (method, path)
    assert len(paged) >= 8, paged
