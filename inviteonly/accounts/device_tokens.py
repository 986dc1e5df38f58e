"""Device tokens: OWASP's "Slow Down Online Guessing Attacks with Device Cookies".

A successful login hands the client a token (the pages' cookie
``LOGIN_DEVICE_COOKIE_NAME``, the API's ``device_token``), and so do a join's and a
recovery's confirmation, whose code proved the number:
``<issued, Unix seconds>.<nonce, 128 bits from secrets>.<signature>``, the signature an
HMAC under the token key (``crypto.token_digest``) of the number's blind index, the
member's id and password hash, the time and the nonce. A login that brings back a
valid token for the number typed is throttled per token (abuse/login_throttle.py), so
a stranger failing with the number locks out only clients without one.

Valid means: signed for the blind index of the number typed *and* the member who holds
it now (a number that moved to another account, or left one, takes no old token with
it) *and* that member's password now (a recovery or a password change ends every token
issued before it, as it ends the sessions: whoever logged in with the old password,
a thief too, keeps nothing), and younger than ``LOGIN_DEVICE_TOKEN_LIFETIME``. Nothing
is stored per token but its failures, under a digest of its nonce; the token itself is
never stored or logged.
"""

from __future__ import annotations

import re
import secrets

from django.conf import settings

from inviteonly.accounts.models import Member
from inviteonly.lib import clock, crypto

NONCE_BYTES = 16  # 22 URL-safe characters
_TOKEN = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{22})\.([0-9a-f]{64})", re.ASCII)
_SIGNED = "device_token"
_THROTTLE_KEY = "device_login_throttle"
# Signed for no member: a number nobody holds verifies no token, after the same work.
_NO_MEMBER = "-"


def _signature(
    *, phone_blind_index: str, member_id: object, password: str, issued: int, nonce: str
) -> str:
    return crypto.token_digest(
        f"{phone_blind_index}.{member_id}.{password}.{issued}.{nonce}", context=_SIGNED
    )


def issue_device_token(member: Member) -> str:
    """A new device token for the client ``member`` just logged in, joined or recovered
    the password on (``member.password``: the hash it has now). An HMAC: no query."""
    issued = int(clock.now().timestamp())
    nonce = secrets.token_urlsafe(NONCE_BYTES)
    signature = _signature(
        phone_blind_index=member.phone_blind_index, member_id=member.id,
        password=member.password, issued=issued, nonce=nonce,
    )
    return f"{issued}.{nonce}.{signature}"


def device_throttle_key(token: str | None, *, phone_blind_index: str) -> str | None:
    """The key the login throttle counts this token's attempts under, if ``token`` is a
    valid device token for the number whose blind index is given; else None (no token,
    a forged, expired or malformed one, or one for another number, member or password)."""
    if not token:
        return None
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    issued_text, nonce, signature = match.groups()
    issued = int(issued_text)
    if clock.now().timestamp() - issued >= settings.LOGIN_DEVICE_TOKEN_LIFETIME.total_seconds():
        return None
    # The member who holds the number now: one row at most, by the unique index on
    # phone_blind_index.
    member_id, password = next(iter(
        Member.objects.filter(phone_blind_index=phone_blind_index).values_list("id", "password")[:1]
    ), (None, _NO_MEMBER))
    expected = _signature(
        phone_blind_index=phone_blind_index,
        member_id=_NO_MEMBER if member_id is None else member_id,
        password=password, issued=issued, nonce=nonce,
    )
    if not crypto.digests_equal(expected, signature) or member_id is None:
        return None
    return crypto.token_digest(nonce, context=_THROTTLE_KEY)
