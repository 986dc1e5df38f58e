"""Idempotency keys of wall posts and messages: a request sent again with its key (a
double tap on a page's button, an API client retrying after a lost answer) is answered
with the row the first one wrote, not with a second.

An action looks first (``earlier_result``), before its checks and rate limits: a retry
writes nothing, so it counts nothing. Otherwise it writes its row and, in the same
transaction, ``remember``s the key. Two requests at once with one key both find it
unused; the unique constraint ``idempotency_key_once`` makes the second's INSERT wait
for the first's transaction and then fail: ``KeyTaken`` rolls back what the second
wrote, and it answers the first's row (``result_of_taken_key``). Checking and then
inserting would not do: both would check before either inserted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Model, QuerySet
from django.utils.translation import gettext_lazy as _

from inviteonly.lib import clock
from inviteonly.lib.crypto import digests_equal, token_digest
from inviteonly.lib.errors import ActionError
from inviteonly.lib.queries import unique_or_none
from inviteonly.lib.tokens import new_url_token
from inviteonly.social.models import IdempotencyKey, IdempotentOperation

Row = TypeVar("Row", bound=Model)

# The API's request header, also the field its refusals name.
HEADER = "Idempotency-Key"
# What a key may be: 1 to 255 visible ASCII characters (a UUID, a ULID, a counter).
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
KEY_MAX_LENGTH = 255
# The random part of a page form's submission key (``secrets``, URL-safe base64).
SUBMISSION_KEY_BYTES = 16


def new_submission_key() -> str:
    """A page form's single-use key, one per form shown."""
    return new_url_token(SUBMISSION_KEY_BYTES)


@dataclass(frozen=True)
class Submission:
    """One member's key for one operation, and what the request asked, as digests."""

    member_id: int
    operation: IdempotentOperation
    key_digest: str
    request_digest: str


class KeyTaken(Exception):
    """Another request stored this key first: raised in the action's transaction,
    which it rolls back."""


def submission(
    *,
    member_id: int,
    operation: IdempotentOperation,
    key: str | None,
    request: tuple[object, ...],
) -> Submission | None:
    """The key of a request (None: the request has none, and is written every time);
    ``request`` is what it asks, so that the key sent with another request is refused."""
    if key is None:
        return None
    if not re.fullmatch(KEY_PATTERN, key):
        raise ActionError(
            "invalid_idempotency_key",
            _("An idempotency key is 1 to 255 visible ASCII characters."),
            status=422,
            field=HEADER,
        )
    return Submission(
        member_id=member_id,
        operation=operation,
        key_digest=token_digest(key, context=f"idempotency-key/{operation.value}"),
        request_digest=token_digest(
            "\x00".join(str(part) for part in request),
            context=f"idempotency-request/{operation.value}",
        ),
    )


def _window_start() -> datetime:
    return clock.now() - settings.IDEMPOTENCY_KEY_WINDOW


def _keys_of(submission: Submission) -> QuerySet[IdempotencyKey]:
    return IdempotencyKey.objects.filter(  # the unique idempotency_key_once
        member_id=submission.member_id,
        operation=submission.operation,
        key_digest=submission.key_digest,
    )


def earlier_result(submission: Submission | None, rows: QuerySet[Row]) -> Row | None:
    """The row (from ``rows``) that this key's request wrote within the window, or
    None if it has not been used. Refuses the key sent with another request (422), and
    a key whose row has since been deleted (409): it wrote once, and writes no more."""
    if submission is None:
        return None
    key = unique_or_none(_keys_of(submission).filter(created_at__gt=_window_start()))
    if key is None:
        return None
    if not digests_equal(key.request_digest, submission.request_digest):
        raise ActionError(
            "idempotency_key_reused",
            _(
                "This Idempotency-Key was already used for another request: send a new "
                "key with each new request."
            ),
            status=422,
            field=HEADER,
        )
    result = unique_or_none(rows.filter(id=key.result_id))
    if result is None:
        raise _used_key()
    return result


def result_of_taken_key(submission: Submission | None, rows: QuerySet[Row]) -> Row:
    """After ``KeyTaken``: the row of the request that stored the key first."""
    result = earlier_result(submission, rows)
    if result is None:  # swept in the meantime: nothing to answer with
        raise _used_key()
    return result


def _used_key() -> ActionError:
    return ActionError(
        "idempotency_key_used",
        _("This request was already made, and what it wrote has since been deleted."),
        status=409,
        field=HEADER,
    )


def remember(submission: Submission | None, *, result_id: int) -> None:
    """Store the key with the row its request wrote, in the action's transaction, after
    that row; ``KeyTaken`` if another request stored it first. A key left from before
    the window (not swept yet) is replaced: past the window a key is new again."""
    if submission is None:
        return
    key = IdempotencyKey(
        member_id=submission.member_id,
        operation=submission.operation,
        key_digest=submission.key_digest,
        request_digest=submission.request_digest,
        result_id=result_id,
    )
    if _inserted(key):
        return
    # Waits for a request deleting it at the same moment, then finds none.
    expired, _by_model = _keys_of(submission).filter(created_at__lte=_window_start()).delete()
    if not expired or not _inserted(key):
        raise KeyTaken


def _inserted(key: IdempotencyKey) -> bool:
    try:
        with transaction.atomic():  # a savepoint: the action's transaction goes on
            key.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def sweep_expired_idempotency_keys() -> int:
    """Delete the keys past the window (part of `inviteonly sweep`); how many."""
    deleted, _by_model = IdempotencyKey.objects.filter(
        created_at__lte=_window_start()  # the index idempotency_key_created
    ).delete()
    return deleted
