"""Django's error views (``handler400``/``403``/``404``/``500`` in urls.py, and
``CSRF_FAILURE_VIEW`` in settings.py) and the page for a wrong method (a middleware):
the API's JSON shape under /api/, the translated templates elsewhere."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.views import defaults

from inviteonly.api import django_error_response, is_api_request


def bad_request_view(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A request Django refuses as suspicious: a form over DATA_UPLOAD_MAX_MEMORY_SIZE, a
    Host not in ALLOWED_HOSTS (logged as a warning, see LOGGING in settings.py), …"""
    if is_api_request(request):
        return django_error_response(request, status=400)
    # 400.html is rendered without the request, as Django does: it may be what is broken.
    return defaults.bad_request(request, exception)


def permission_denied_view(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A PermissionDenied nothing else answered (the admin's, for one)."""
    if is_api_request(request):
        return django_error_response(request, status=403)
    return defaults.permission_denied(request, exception)


def page_not_found_view(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return django_error_response(request, status=404)
    return defaults.page_not_found(request, exception)


def server_error_view(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return django_error_response(request, status=500)
    # 500.html is rendered without the request: no context processor, no database.
    return defaults.server_error(request)


def csrf_failure_view(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form whose CSRF check failed: kept open too long, sent after logging in or out
    in another tab, or from a browser that refuses cookies. The site's page in the
    reader's language, saying what to do; Django's own is English jargon pointing at
    DEBUG. The reason stays in the log (django.security.csrf), not on the page. The
    page's own forms (the header's) give the browser a fresh token."""
    if is_api_request(request):
        return django_error_response(request, status=403)
    return render(request, "403_csrf.html", status=403)


def method_not_allowed_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """``require_POST`` answers a GET with an empty 405: a blank page. A member meets it
    when the log-in page, after a session ended, brings them back to the address a
    button sent its form to. They get a page saying to go back and send again; the 405
    and its Allow header stay. Last in MIDDLEWARE, so that the others (the language,
    the CSRF cookie of the page's forms) see the page. The API has its own 405."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if (isinstance(response, HttpResponseNotAllowed) and not response.content
                and not is_api_request(request)):
            page = render(request, "405.html", status=405)
            page["Allow"] = response["Allow"]
            return page
        return response

    return middleware
