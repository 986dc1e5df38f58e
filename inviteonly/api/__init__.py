"""The JSON API (django-ninja): one module per resource, OpenAPI at /api/openapi.json.

Every refusal has one shape, ``{"code", "detail", "field"}``, with ``detail`` in the
language of the request's Accept-Language header.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
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


api = NinjaAPI(
    title="inviteonly",
    version="1",
    description=(
        "Invitations by mobile number, sign-up with an SMS code, login and recovery, "
        "invite rights."
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
