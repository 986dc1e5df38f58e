"""Small helpers shared by the page views: the client address, an id in a query or a
form, running a form's action, rendering its page."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from inviteonly.lib.converters import MAX_ROW_ID
from inviteonly.lib.errors import ActionError

Result = TypeVar("Result")


def client_ip(request: HttpRequest) -> str | None:
    """The client's address; behind ``TRUSTED_PROXY_COUNT`` proxies, read from
    X-Forwarded-For as those proxies appended it. Some proxies append a port
    ("203.0.113.7:51234", "[2001:db8::1]:443"): it is dropped. An entry that is no
    address at all (a client's own, where more proxies are counted than stand in
    front) is not taken: the nearest proxy's address is, as without proxies."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            address = _address(forwarded[-proxies])
            if address is not None:
                return address
    return request.META.get("REMOTE_ADDR") or None


def _address(entry: str) -> str | None:
    """The IP address in an X-Forwarded-For entry, without a port; None if none."""
    host = entry
    if entry.startswith("["):  # [IPv6]:port
        host = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:  # IPv4:port
        host = entry.partition(":")[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def row_id(text: str | None) -> int | None:
    """An id a page put in a link or a form (``?before=``, ``up_to``): 1…``MAX_ROW_ID``,
    or None for anything else (missing, empty, not a number, out of range)."""
    if not text or not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ROW_ID else None


def safe_next(request: HttpRequest) -> str:
    """Where a form's ``next`` asks to go back to: a path on this site, or "" for
    anything else (another host, a scheme, a bare word that ``redirect`` would take
    for the name of a URL pattern)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def run_form_action(
    request: HttpRequest, form: forms.Form, action: Callable[[dict[str, Any]], Result]
) -> Result | None:
    """On a valid POST, run ``action(cleaned_data)``; a refusal becomes a form error
    (and stays on the form as ``refusal``, for ``render_form_page``)."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return action(form.cleaned_data)
    except ActionError as error:
        field = error.field if error.field in form.fields else None
        form.add_error(field, str(error.message))
        form.refusal = error  # type: ignore[attr-defined]
        return None


def render_form_page(
    request: HttpRequest, template: str, context: dict[str, Any], *, form: forms.Form
) -> HttpResponse:
    """Render a page with a form; a rate-limit refusal makes it a 429 with Retry-After.
    The first field with an error gets the focus: the browser opens the page there, its
    error in view, even where the field is far down a phone's screen (no JavaScript)."""
    refused = [name for name, field in form.fields.items()
               if name in form.errors and not field.widget.is_hidden]
    if refused:
        for field in form.fields.values():
            field.widget.attrs.pop("autofocus", None)
        form.fields[refused[0]].widget.attrs["autofocus"] = True
    response = render(request, template, {**context, "form": form})
    refusal = getattr(form, "refusal", None)
    if isinstance(refusal, ActionError) and refusal.retry_after is not None:
        response.status_code = refusal.status
        response["Retry-After"] = str(refusal.retry_after)
    return response
