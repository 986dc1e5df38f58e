"""Checking real API answers against the OpenAPI document a client developer reads.

``ApiClient`` passes every answer through ``check_against_document``: its status must be
declared for the operation, its body must match the declared schema, and a header the
answer relies on (``Retry-After`` on a 429, ``WWW-Authenticate`` on a refused token)
must be declared too. A contradiction fails the test that made the request.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import jsonschema_rs
from django.test import Client

DOCUMENT_PATH = "/api/openapi.json"
# Headers a client is meant to read: where an answer carries one, the document must say so.
DOCUMENTED_HEADERS = ("Retry-After", "WWW-Authenticate")


class DocumentMismatch(AssertionError):
    pass


@cache
def document() -> dict[str, Any]:
    response = Client().get(DOCUMENT_PATH)
    assert response.status_code == 200
    parsed: dict[str, Any] = json.loads(response.content)
    return parsed


@cache
def _operations() -> list[tuple[re.Pattern[str], str, str]]:
    return [
        (re.compile("^" + re.sub(r"\{[^}/]+\}", "[^/]+", path) + "$"), method.upper(), path)
        for path, operations in document()["paths"].items()
        for method in operations
    ]


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The documented operation serving ``method path`` (a path without its query)."""
    for pattern, operation_method, template in _operations():
        if operation_method == method.upper() and pattern.match(path):
            return template, document()["paths"][template][method.lower()]
    return None


@cache
def _validator(template: str, method: str, status: str) -> Any:
    content = document()["paths"][template][method]["responses"][status]["content"]
    schema = content["application/json"]["schema"]
    return jsonschema_rs.validator_for({**schema, "components": document()["components"]})


def check_against_document(method: str, path: str, response: Any) -> None:
    """Raise ``DocumentMismatch`` where the answer contradicts the document. Paths no
    operation takes (an unknown address, a method the path does not take) are not
    operations and are left alone."""
    found = operation_for(method, path.split("?")[0])
    if found is None:
        return
    template, operation = found
    where = f"{method.upper()} {template} answered {response.status_code}"
    status = str(response.status_code)
    declared = operation["responses"]
    if status not in declared:
        raise DocumentMismatch(f"{where}, not declared: {response.content[:200]!r}")
    if status == "429" and not response.has_header("Retry-After"):
        raise DocumentMismatch(f"{where} without Retry-After")
    for header in DOCUMENTED_HEADERS:
        if response.has_header(header) and header not in declared[status].get("headers", {}):
            raise DocumentMismatch(f"{where} with {header}, not declared")
    if "content" not in declared[status]:
        if response.content:
            raise DocumentMismatch(f"{where} with a body, none declared")
        return
    if not response["Content-Type"].startswith("application/json"):
        raise DocumentMismatch(f"{where} as {response['Content-Type']}")
    errors = [
        f"{error.instance_path}: {error.message}"
        for error in _validator(template, method.lower(), status).iter_errors(
            json.loads(response.content)
        )
    ]
    if errors:
        raise DocumentMismatch(f"{where} off its schema: {errors[:3]}")
