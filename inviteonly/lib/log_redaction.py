"""A safety net under every log line: phone numbers and tokens in paths are blanked.

The code never logs a number, a code or a token on purpose. But Django logs request
paths on 4xx/5xx answers, and join links, invitation-request status pages and
delivery-report URLs carry their tokens in the path; a future log line or exception
message might carry a number by mistake. The record factory installed here rewrites
every record as it is created, its traceback included, before any handler (ours,
pytest's, a syslog forwarder's) sees it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_PATTERNS = (
    # Join links: /j/<token> (pages) — the token is a bearer secret.
    (re.compile(r"/j/[A-Za-z0-9_-]+"), "/j/[token]"),
    # An invitation request's status page: /ask/<token> — a bearer secret as well.
    (re.compile(r"/ask/[A-Za-z0-9_-]+"), "/ask/[token]"),
    # Delivery reports: /sms/<gateway>/<message id>/<token>/ — Kannel's endpoint asks
    # for nothing but the token, and Django logs the path of every refused report.
    (re.compile(r"(/sms/[A-Za-z0-9_-]+/\d+/)[^/?#\s]+"), r"\1[token]"),
    # International numbers, however punctuated: +7 916 123-45-67, +14155552671,
    # and percent-encoded in a path (+7%20916%20123-45-67).
    (re.compile(r"\+\d(?:[\d\s().\u2010-\u2013-]|%20){5,}\d"), "[phone]"),
    # Long runs of digits: national numbers, E.164 without the plus.
    (re.compile(r"(?<!\d)\d{9,15}(?!\d)"), "[phone]"),
)

# National numbers as typed: digit groups, one separator (a space of any width, a
# dash or hyphen, a dot, "%20") or parentheses between them: 8 916 123-45-67, (415)
# 555-2671, 415.555.2671. Blanked when they hold 9 to 15 digits. Dates (2026-11-30)
# and IPv4 addresses, which logs need, are matched first and kept as they are, so a
# number written after one is still a number of its own.
_SEPARATOR = r"(?:[ .\u00a0\u2009\u202f\u2010-\u2013-]|%20)"
_GROUPED_DIGITS = re.compile(
    r"(?P<kept>(?<![\w.:-])(?:\d{4}-\d\d-\d\d|\d{1,3}(?:\.\d{1,3}){3})(?![\w.:-]?\d))"
    r"|(?<![\w.:-])\(?\d"
    rf"(?:\d|\)|{_SEPARATOR}?\((?=\d)|{_SEPARATOR}(?=\(?\d))*\d(?![\w:])"
)


def _blank_grouped(match: re.Match[str]) -> str:
    text = match.group()
    if match.group("kept") is not None:
        return text
    digits = sum(char.isdigit() for char in text.replace("%20", " "))
    return "[phone]" if 9 <= digits <= 15 else text


_TRACEBACKS = logging.Formatter()
_installed = False


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _GROUPED_DIGITS.sub(_blank_grouped, text)


def install() -> None:
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def redacting_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, ()
        # A traceback quotes exception messages and source lines: handed to handlers as
        # redacted text only (formatters print exc_text as they would the traceback).
        if record.exc_info:
            record.exc_text = redact(_TRACEBACKS.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(redacting_record_factory)
    _installed = True
