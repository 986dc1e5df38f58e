"""Encryption at rest and keyed hashes.

* ``encrypt`` / ``decrypt``: AES-256-GCM under a key ring. The blob is
  ``key id length | key id | 12-byte nonce | ciphertext+tag``; the purpose (phone
  number, SMS text) is bound as associated data, so a ciphertext cannot be moved
  from one column to another.
* ``blind_index``: HMAC-SHA256 of an E.164 number under its own key, the unique and
  searchable stand-in for the number.
* ``token_digest``: HMAC-SHA256 under the token key, how join tokens, verification
  tokens, session keys and codes are stored. Compare digests with ``digests_equal``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from base64 import urlsafe_b64decode
from enum import Enum
from functools import cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings


class Purpose(Enum):
    PHONE_NUMBER = b"inviteonly/phone-number/v1"
    SMS_TEXT = b"inviteonly/sms-text/v1"


class KeyConfigurationError(ValueError):
    pass


def _decode_key(text: str, *, name: str) -> bytes:
    try:
        key = urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except ValueError as error:
        raise KeyConfigurationError(f"{name} is not base64") from error
    if len(key) != 32:
        raise KeyConfigurationError(f"{name} must be 32 bytes, base64-encoded")
    return key


@cache
def _key_ring(spec: str) -> tuple[tuple[str, AESGCM], ...]:
    ring = []
    for entry in spec.split(","):
        key_id, _, key_text = entry.strip().partition(":")
        if not key_id or not key_text or len(key_id.encode()) > 255:
            raise KeyConfigurationError("PHONE_ENCRYPTION_KEYS entries look like 'id:base64key'")
        ring.append((key_id, AESGCM(_decode_key(key_text, name=f"encryption key {key_id}"))))
    if len({key_id for key_id, _ in ring}) != len(ring):
        raise KeyConfigurationError("PHONE_ENCRYPTION_KEYS has a key id twice")
    return tuple(ring)


def check_keys() -> None:
    """Raise KeyConfigurationError if any configured key is malformed."""
    _key_ring(settings.PHONE_ENCRYPTION_KEYS)
    _decode_key(settings.PHONE_INDEX_KEY, name="PHONE_INDEX_KEY")
    _decode_key(settings.TOKEN_KEY, name="TOKEN_KEY")


def current_key_id() -> str:
    return _key_ring(settings.PHONE_ENCRYPTION_KEYS)[0][0]


def encrypt(plaintext: str, *, purpose: Purpose) -> bytes:
    key_id, aead = _key_ring(settings.PHONE_ENCRYPTION_KEYS)[0]
    nonce = secrets.token_bytes(12)
    encoded_id = key_id.encode()
    return (
        bytes([len(encoded_id)])
        + encoded_id
        + nonce
        + aead.encrypt(nonce, plaintext.encode(), purpose.value)
    )


def key_id_of(blob: bytes) -> str:
    return bytes(blob[1 : 1 + blob[0]]).decode()


def decrypt(blob: bytes, *, purpose: Purpose) -> str:
    blob = bytes(blob)
    key_id = key_id_of(blob)
    body = blob[1 + blob[0] :]
    for candidate_id, aead in _key_ring(settings.PHONE_ENCRYPTION_KEYS):
        if candidate_id == key_id:
            return aead.decrypt(body[:12], body[12:], purpose.value).decode()
    raise KeyConfigurationError(f"no encryption key with id {key_id!r} is configured")


@cache
def _hmac_key(spec: str, name: str) -> bytes:
    return _decode_key(spec, name=name)


def blind_index(e164: str) -> str:
    key = _hmac_key(settings.PHONE_INDEX_KEY, "PHONE_INDEX_KEY")
    return hmac.new(key, e164.encode(), hashlib.sha256).hexdigest()


def token_digest(token: str, *, context: str) -> str:
    """The stored form of a secret token; ``context`` keeps kinds of token apart."""
    key = _hmac_key(settings.TOKEN_KEY, "TOKEN_KEY")
    return hmac.new(key, f"{context}\x00{token}".encode(), hashlib.sha256).hexdigest()


def digests_equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())
