"""The JSON API (django-ninja): one module per resource, OpenAPI at /api/openapi.json.

Every refusal has one shape, ``{"code", "detail", "field"}``, with ``detail`` in the
language of the request's Accept-Language header: also a body over the size limit (413),
a method the path does not take (405) and, through Django's error views (``urls.py``),
an unknown path (404) or a failure (500).
"""

from __future__ import annotations

import json
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver, reverse
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.parser import Parser

from inviteonly.api.errors import validation_error_detail
from inviteonly.lib.errors import ActionError


class JsonOnlyParser(Parser):
    """Refuses bodies that are not JSON with 415 instead of guessing."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        content_type = request.content_type or ""
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise ActionError(
                "unsupported_media_type",
                _("Send the request body as JSON with the header Content-Type: "
                  "application/json."),
                status=415,
            )
        try:
            parsed: dict[str, Any] = json.loads(request.body)
            return parsed
        except (ValueError, UnicodeDecodeError) as error:
            raise ActionError(
                "malformed_json", _("The request body is not valid JSON."), status=400
            ) from error


class ShapedErrorsNinjaAPI(NinjaAPI):
    """NinjaAPI whose 405 has the API's shape too: ninja writes that answer itself, as
    plain text, without going through the exception handlers. Its document declares
    the Retry-After and WWW-Authenticate headers of refusals."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        """The document with the headers a client reads on a refusal, which ninja's
        response schemas cannot declare."""
        document = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for operations in document["paths"].values():
            for operation in operations.values():
                responses = operation["responses"]
                if 429 in responses:
                    responses[429]["headers"] = {"Retry-After": {
                        "description": "Seconds to wait before trying again.",
                        "schema": {"type": "integer"},
                    }}
                if 401 in responses and operation.get("security"):
                    responses[401]["headers"] = {"WWW-Authenticate": {
                        "description": "Bearer: the session token is missing or no longer "
                                       "valid (log in again).",
                        "schema": {"type": "string"},
                    }}
        return document

    @property
    def urls(self) -> tuple[list[URLResolver | URLPattern], str, str]:
        patterns, app_name, namespace = super().urls
        return ([_shaping_wrong_methods(pattern, patterns[index + 1:])
                 for index, pattern in enumerate(patterns)], app_name, namespace)


def _shaping_wrong_methods(
    pattern: URLResolver | URLPattern, later: list[URLResolver | URLPattern]
) -> URLResolver | URLPattern:
    """A path that does not take the method gives the request to the first later
    pattern that matches it too and does: Django stops at the first match, so
    ``DELETE /friend-requests/incoming`` would otherwise never reach ``DELETE
    /friend-requests/{member_id}``, which the document says it is (and which refuses
    "incoming" as a member id with 422)."""
    if not isinstance(pattern, URLPattern):
        return pattern
    view = pattern.callback
    fallbacks = [other for other in later if isinstance(other, URLPattern)]

    @wraps(view)  # keeps ninja's csrf_exempt
    def shaped_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response: HttpResponseBase = view(request, *args, **kwargs)
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        remainder = request.path[len(reverse("api:api-root")):]
        for other in fallbacks:
            match = other.pattern.match(remainder)
            if match is None:
                continue
            _rest, other_args, other_kwargs = match
            answer: HttpResponseBase = other.callback(request, *other_args, **other_kwargs)
            if not isinstance(answer, HttpResponseNotAllowed):
                return answer
        return method_not_allowed_response(request, allowed=response["Allow"])

    return URLPattern(pattern.pattern, shaped_view, pattern.default_args, pattern.name)


api = ShapedErrorsNinjaAPI(
    title="inviteonly",
    version="1",
    description=(
        "An invite-only social network: invitations by mobile number, joining with an "
        "SMS code, login and recovery, invite rights and invitation requests, the "
        "invitation tree, profiles, friends, walls, messages, reports and moderation.\n\n"
        "**Authentication:** `POST /api/session` (or, when joining, "
        "`POST /api/join/confirm`) answers with a `session_token`; send it as "
        "`Authorization: Bearer <token>`. Bodies are JSON only.\n\n"
        "**Refusals** are `{\"code\", \"detail\", \"field\"}`: `code` is stable, "
        "`detail` is in the language of `Accept-Language` (Russian or English), `field` "
        "names the field at fault or is null. Rate-limited operations answer 429 with "
        "`Retry-After`.\n\n"
        "**Lists** page by cursor: give a page's `next_before` (friend lists: "
        "`next_after`) as `before` (`after`) to get the next one; null on the last page."
        "\n\n**Times** are ISO 8601 in UTC. A wall post or message sent again with the "
        "same `Idempotency-Key` header answers the first instead of writing twice."
    ),
    parser=JsonOnlyParser(),
    urls_namespace="api",
    docs_url="/docs",
)


def error_response(request: HttpRequest, error: ActionError) -> HttpResponse:
    response = api.create_response(
        request,
        {"code": error.code, "detail": str(error.message), "field": error.field},
        status=error.status,
    )
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    return response


def method_not_allowed_response(request: HttpRequest, *, allowed: str) -> HttpResponse:
    methods = ", ".join(sorted(allowed.split(", ")))  # ninja lists them from a set
    response = error_response(request, ActionError(
        "method_not_allowed",
        _("This address does not take %(method)s, only %(allowed)s.")
        % {"method": request.method, "allowed": methods},
        status=405,
    ))
    response["Allow"] = methods
    return response


def is_api_request(request: HttpRequest) -> bool:
    """Whether the request is addressed to the API, for Django's error views."""
    return request.path.startswith(reverse("api:api-root"))


def django_error_response(request: HttpRequest, *, status: int) -> HttpResponse:
    """The API's answer where Django would show its 400, 403, 404 or 500 page: for a
    path no operation takes (``/api/`` itself included), a request Django refuses as
    suspicious or forbidden, an exception nothing caught."""
    if status == 404:
        error = ActionError(
            "not_found",
            _("There is no such API address: see %(docs)s for the list.")
            % {"docs": reverse("api:openapi-view")},
            status=404,
        )
    elif status == 403:
        error = ActionError("forbidden", _("You may not do this."), status=403)
    elif status >= 500:
        error = ActionError(
            "server_error", _("Something went wrong on our side. Try again later."), status=status
        )
    else:
        error = ActionError("bad_request", _("The request is malformed."), status=status)
    return error_response(request, error)


@api.exception_handler(ActionError)
def on_action_error(request: HttpRequest, error: ActionError) -> HttpResponse:
    return error_response(request, error)


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    if isinstance(error.__cause__, ActionError):  # raised by JsonOnlyParser
        return error_response(request, error.__cause__)
    malformed = ActionError("bad_request", _("The request is malformed."), status=error.status_code)
    return error_response(request, malformed)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    response = error_response(
        request,
        ActionError(
            "not_authenticated",
            _("Log in first: send the session token as 'Authorization: Bearer <token>'."),
            status=401,
        ),
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


# Raised by ninja reading the body before JsonOnlyParser sees it, or by a multipart
# form's fields: a client that sent too much should hear so, not "malformed".
@api.exception_handler(RequestDataTooBig)
def on_request_data_too_big(request: HttpRequest, error: RequestDataTooBig) -> HttpResponse:
    limit_kb = (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) // 1024
    return error_response(request, ActionError(
        "request_too_large",
        _("The request body is too large: at most %(limit)d KB.") % {"limit": limit_kb},
        status=413,
    ))


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, error: ValidationError) -> HttpResponse:
    field, detail = validation_error_detail(error.errors)
    return error_response(request, ActionError("invalid_request", detail, status=422, field=field))


from inviteonly.api import (  # noqa: E402
    friends,
    invitation_requests,
    invitations,
    join,
    me,
    messages,
    profiles,
    recovery,
    reports,
    rights,
    sessions,
    site,
    tree,
    walls,
)

# Django tries the routers in this order. One with a prefix is passed over at once by
# paths outside it; one without ("") costs every path after it a failed
# sub-resolution. So the prefixed come first, then the unprefixed, the most read (the
# walls) first among them.
api.add_router("/conversations", messages.router, tags=["messages"])
api.add_router("/invitations", invitations.router, tags=["invitations"])
api.add_router(
    "/invitation-requests", invitation_requests.router, tags=["invitation requests"]
)
api.add_router("/join", join.router, tags=["join"])
api.add_router("/session", sessions.router, tags=["session"])
api.add_router("/recovery", recovery.router, tags=["recovery"])
api.add_router("/me", me.router, tags=["me"])
api.add_router("/site", site.router, tags=["site"])
api.add_router("/tree", tree.router, tags=["tree"])
api.add_router("", walls.router, tags=["walls"])
api.add_router("", rights.router, tags=["invite rights"])
api.add_router("", profiles.router, tags=["profiles"])
api.add_router("", friends.router, tags=["friends"])
api.add_router("", reports.router, tags=["reports"])
