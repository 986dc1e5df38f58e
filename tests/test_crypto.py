"""Encryption at rest and keyed digests."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from django.test import override_settings

from inviteonly.lib import crypto


def test_round_trip_and_fresh_nonce_each_time() -> None:
    first = crypto.encrypt("+79161234567", purpose=crypto.Purpose.PHONE_NUMBER)
    second = crypto.encrypt("+79161234567", purpose=crypto.Purpose.PHONE_NUMBER)
    assert first != second
    assert crypto.decrypt(first, purpose=crypto.Purpose.PHONE_NUMBER) == "+79161234567"
    assert b"9161234567" not in first


def test_ciphertext_cannot_be_moved_to_another_purpose() -> None:
    blob = crypto.encrypt("+79161234567", purpose=crypto.Purpose.PHONE_NUMBER)
    with pytest.raises(InvalidTag):
        crypto.decrypt(blob, purpose=crypto.Purpose.SMS_TEXT)


def test_tampered_ciphertext_is_refused() -> None:
    blob = bytearray(crypto.encrypt("+79161234567", purpose=crypto.Purpose.PHONE_NUMBER))
    blob[-1] ^= 1
    with pytest.raises(InvalidTag):
        crypto.decrypt(bytes(blob), purpose=crypto.Purpose.PHONE_NUMBER)


def test_data_under_a_removed_key_says_which_key_is_missing() -> None:
    blob = crypto.encrypt("+79161234567", purpose=crypto.Purpose.PHONE_NUMBER)
    with (
        override_settings(PHONE_ENCRYPTION_KEYS="other:ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ0="),
        pytest.raises(crypto.KeyConfigurationError, match="test2"),
    ):
        crypto.decrypt(blob, purpose=crypto.Purpose.PHONE_NUMBER)


KEY = "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ0="


@pytest.mark.parametrize("ring", ["nokey", "a:short", f"a:{KEY},a:{KEY}", f":{KEY}"])
def test_malformed_key_rings_are_refused(ring: str) -> None:
    with override_settings(PHONE_ENCRYPTION_KEYS=ring), pytest.raises(crypto.KeyConfigurationError):
        crypto.check_keys()


def test_blind_index_is_stable_and_keyed() -> None:
    index = crypto.blind_index("+79161234567")
    assert index == crypto.blind_index("+79161234567")
    assert index != crypto.blind_index("+79161234568")
    with override_settings(PHONE_INDEX_KEY="ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ0="):
        assert crypto.blind_index("+79161234567") != index


def test_token_digests_differ_by_context() -> None:
    join = crypto.token_digest("abc", context="join")
    assert join != crypto.token_digest("abc", context="session")
    assert crypto.digests_equal(join, crypto.token_digest("abc", context="join"))
