"""Schemathesis generates requests from /api/openapi.json, valid (positive) and
schema-violating (negative), for every operation, with and without a session; none
may get a 5xx answer, nor one the document does not declare."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from inviteonly.accounts.models import Member
from inviteonly.api.auth import start_api_session
from inviteonly.wsgi import application
from tests.api_document import DocumentMismatch, check_against_document
from tests.conftest import ApiClient

# The WSGI app closes connections after each request: no wrapping test transaction.
pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES_PER_OPERATION = 60


class WsgiAnswer:
    """A schemathesis answer as ``check_against_document`` reads one."""

    def __init__(self, response: Any) -> None:
        self.status_code = response.status_code
        self.content = response.content
        self.headers = {name.lower(): value for name, value in response.headers.items()}

    def has_header(self, name: str) -> bool:
        return name.lower() in self.headers

    def __getitem__(self, name: str) -> str:
        value = self.headers[name.lower()]
        return str(value[0] if isinstance(value, list) else value)


def test_no_operation_answers_with_a_server_error(founder: Member) -> None:
    member = ApiClient()
    member.log_in("+79160000001")
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 10

    def logs_out(operation: Any) -> bool:
        return bool(operation.method.upper() == "DELETE" and operation.path == "/api/session")

    # Logging out last, each time with a session of its own: it ends the session the
    # other operations are fuzzed with.
    operations.sort(key=logs_out)
    assert logs_out(operations[-1])
    failures: list[str] = []
    statuses: set[int] = set()
    fresh_session = [False]
    log_out_statuses: set[int] = set()

    for operation in operations:
        fresh_session[0] = logs_out(operation)

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            ),
            authenticated=st.booleans(),
        )
        def no_server_error(case: schemathesis.Case, authenticated: bool) -> None:
            if authenticated and fresh_session[0]:
                # As POST /api/session would make it, without its rate limit and hash.
                member.token = start_api_session(RequestFactory().post("/"), founder)
            headers = {"Authorization": f"Bearer {member.token}"} if authenticated else None
            response = case.call(headers=headers)
            statuses.add(response.status_code)
            if fresh_session[0]:
                log_out_statuses.add(response.status_code)
            request = f"{case.method} {case.path} {case.query!r} {case.body!r}"
            if response.status_code >= 500:
                failures.append(f"{request}: {response.status_code}")
            try:
                check_against_document(case.method, case.formatted_path, WsgiAnswer(response))
            except DocumentMismatch as mismatch:
                failures.append(f"{request}: {mismatch}")

        no_server_error()
    assert failures == []
    # The fuzzing reached past validation: successes and refusals both happened.
    assert {200, 201, 202} & statuses and {400, 401, 422} <= statuses, statuses
    assert 204 in log_out_statuses, log_out_statuses  # sessions were really ended
