"""Secrets handed to people: join tokens, verification tokens and confirmation codes.

All come from ``secrets``; none is stored, only its ``token_digest``.
"""

from __future__ import annotations

import secrets
import unicodedata

from django.conf import settings


def new_url_token(num_bytes: int) -> str:
    return secrets.token_urlsafe(num_bytes)


def new_join_token() -> str:
    return new_url_token(settings.JOIN_TOKEN_BYTES)


def new_code() -> str:
    digits = settings.VERIFICATION_CODE_DIGITS
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def normalize_code(raw: str) -> str:
    """What people type: "123 456", "123-456", full-width digits; keep the digits."""
    return "".join(str(unicodedata.decimal(char)) for char in raw if char.isdecimal())
