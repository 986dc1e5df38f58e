"""The one exception actions raise when they refuse a request.

A refusal carries a stable ``code`` for programs, a translated ``message`` for
people, the HTTP status the API answers with, optionally the form field it is about
and, for a 429, the seconds until the client may retry. Pages show the message next
to the field; the API returns all of it as JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # django-stubs-ext comes with mypy, not with the site
    from django_stubs_ext import StrOrPromise


class ActionError(Exception):
    def __init__(
        self,
        code: str,
        message: StrOrPromise,
        *,
        status: int = 400,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.status = status
        self.field = field
        # Seconds until trying again can succeed (sent as Retry-After with a 429).
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
