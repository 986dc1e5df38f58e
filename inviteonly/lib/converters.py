"""Path converters for the page URLs (registered in ``inviteonly/urls.py``)."""

from __future__ import annotations

# The largest id a URL or an API request may carry: well within a 64-bit database
# integer, so a query never binds a number SQLite cannot hold (OverflowError) and
# hand-written SQL needs no range check of its own.
MAX_ROW_ID = 2**62


class IdConverter:
    """``<id:name>``: a row id, 1…MAX_ROW_ID. Anything else matches no page (a 404), as
    the JSON API refuses it (``api/profiles.py``, ``MemberIdPath``)."""

    # At most as many digits as MAX_ROW_ID, so a URL of a million digits is not parsed.
    regex = f"[0-9]{{1,{len(str(MAX_ROW_ID))}}}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= MAX_ROW_ID:
            raise ValueError(value)  # Django tries the next pattern, then answers 404
        return number

    def to_url(self, value: int) -> str:
        if not 0 < value <= MAX_ROW_ID:
            raise ValueError(value)  # NoReverseMatch: no link to a page that is not there
        return str(value)
