"""Creating, checking and consuming phone verifications.

These run inside the caller's transaction. ``check_verification_code`` returns its
refusal instead of raising it, so the caller can commit the count of a wrong try
before refusing; ``consume_verification`` is a conditional UPDATE (or, right after a
locked check in the same transaction, an UPDATE that cannot miss), so a code is used
once even under races.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import F, Q, Sum
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from inviteonly.abuse.sms_budget import record_code_verified
from inviteonly.accounts.models import Member
from inviteonly.audit_log.actions import record_audit_entry
from inviteonly.audit_log.models import AuditAction
from inviteonly.invitations.models import Invitation
from inviteonly.lib import clock, crypto, tokens
from inviteonly.lib.errors import ActionError
from inviteonly.lib.phone_numbers import PhoneNumber
from inviteonly.lib.queries import (
    columns_of,
    fetch_model,
    insert_later,
    locking,
    update,
    update_later,
)
from inviteonly.phone_verification.models import PhoneVerification, VerificationPurpose
from inviteonly.site_config.models import REGISTRATION_MODE_COLUMN


@dataclass(frozen=True)
class StartedVerification:
    """A verification just created; ``token`` exists only here, never in the database."""

    verification: PhoneVerification
    token: str


def _code_digest(verification_token_digest: str, code: str) -> str:
    # Bound to the verification, so one code's digest says nothing about another's.
    return crypto.token_digest(code, context=f"code:{verification_token_digest}")


def verification_token_digest(token: str) -> str:
    return crypto.token_digest(token, context="verification")


# What a used or replaced verification keeps of its payload: nothing.
_WIPED = {"pending_password_hash": "", "pending_display_name": ""}


def create_verification(
    *,
    purpose: VerificationPurpose,
    phone: PhoneNumber,
    member: Member | None = None,
    invitation: Invitation | None = None,
    pending_display_name: str = "",
    pending_password_hash: str = "",
    pending_language: str = "",
    can_succeed: bool = True,
) -> tuple[StartedVerification, str]:
    """Return the new verification and its code (to be put in an SMS, never stored).

    A new code replaces the open codes for the same number, purpose and invitation
    (the newest SMS is the one that works) — decoys or not, so replacing behaves the
    same for every number. The invitation bounds it: someone joining through another
    link, or in open mode, cannot kill an invitee's pending code. ``can_succeed=False``
    makes a decoy: it answers exactly like a real verification and no code confirms it.
    A code for moving an account (``PHONE_CHANGE``, never a decoy) replaces the
    member's own open ones instead, whatever their number: the newest is the one that
    works, and another member asking for a code to the same number cannot kill it.
    """
    token = tokens.new_url_token(settings.VERIFICATION_TOKEN_BYTES)
    token_digest = verification_token_digest(token)
    code = tokens.new_code()
    index = crypto.blind_index(phone.e164)
    now = clock.now()
    if purpose == VerificationPurpose.PHONE_CHANGE:
        assert member is not None
        replaced = "member_id = %s AND purpose = %s AND consumed_at IS NULL"
        params: list[object] = [member.id, purpose]
    else:
        same_invitation = "invitation_id IS NULL" if invitation is None else "invitation_id = %s"
        replaced = (
            "phone_blind_index = %s AND purpose = %s AND consumed_at IS NULL AND "
            + same_invitation
        )
        params = [index, purpose, *([] if invitation is None else [invitation.id])]
    update_later(PhoneVerification, {"consumed_at": now, **_WIPED}, where=replaced, params=params)
    verification = insert_later(PhoneVerification(
        purpose=purpose,
        token_digest=token_digest,
        code_digest=_code_digest(token_digest, code),
        can_succeed=can_succeed,
        phone_blind_index=index,
        phone_ciphertext=crypto.encrypt(phone.e164, purpose=crypto.Purpose.PHONE_NUMBER),
        phone_masked=phone.masked,
        region=phone.region,
        member=member,
        invitation=invitation,
        pending_display_name=pending_display_name,
        pending_password_hash=pending_password_hash,
        pending_language=pending_language,
        created_at=now,
        expires_at=now + settings.VERIFICATION_CODE_TTL,
    ))
    return StartedVerification(verification=verification, token=token), code


def used_with_code(
    *, verification_token: str, purpose: VerificationPurpose, code: str
) -> PhoneVerification | None:
    """The used verification of this token, if ``code`` is its code: tells a confirmation
    sent again (a client retrying after a lost answer) from a stale one. A decoy is never
    returned. A code replaced by a newer one is used too, and its holder never had it:
    a wrong code is counted as at a live one (for decoys alike), and past the tries a
    code has the right one is not told apart either — no guessing at it until the
    answer changes."""
    token_digest = verification_token_digest(verification_token)
    verification = PhoneVerification.objects.filter(
        token_digest=token_digest, purpose=purpose, consumed_at__isnull=False
    ).select_related("member", "invitation").first()
    if (
        verification is None
        or verification.failed_attempts >= settings.VERIFICATION_CODE_MAX_ATTEMPTS
    ):
        return None
    right = crypto.digests_equal(
        _code_digest(token_digest, tokens.normalize_code(code)), verification.code_digest
    )
    if right and verification.can_succeed:
        return verification
    _count_wrong_code(verification, purpose=purpose)
    return None


def _count_wrong_code(verification: PhoneVerification, *, purpose: VerificationPurpose) -> None:
    PhoneVerification.objects.filter(id=verification.id).update(
        failed_attempts=F("failed_attempts") + 1
    )
    record_audit_entry(
        AuditAction.CODE_REJECTED,
        target_member=verification.member,
        invitation=verification.invitation,
        phone_masked=verification.phone_masked,
        purpose=purpose,
        attempt=verification.failed_attempts + 1,
    )


def code_expired() -> ActionError:
    """The refusal of a code that is gone: expired, used, replaced — or right, but no
    longer unlocking what it was sent for."""
    return ActionError(
        "code_expired",
        _("This code has expired or was already used. Start again to get a new code."),
        status=410,
        field="code",
    )


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of a code check: the verification if the code was right, else the
    refusal to raise once the transaction that counted the wrong try has committed."""

    verification: PhoneVerification | None = None
    refusal: ActionError | None = None


# The verification locked (SQLite: the transaction's write lock does it) with what a
# right code unlocks: the invitation, its inviter, the member, and whether a join is
# open at all (the registration mode). Read on every code typed (see lib/queries.py),
# by the verification's id or its token's digest.
_VERIFICATION_SQL = (
    f"SELECT {columns_of(PhoneVerification, 'v')}, {columns_of(Invitation, 'i')}, "  # noqa: S608
    f"{columns_of(Member, 'im')}, {columns_of(Member, 'm')}, {REGISTRATION_MODE_COLUMN} "
    "FROM phone_verification_phoneverification v "
    "LEFT JOIN invitations_invitation i ON i.id = v.invitation_id "
    "LEFT JOIN accounts_member im ON im.id = i.inviter_id "
    "LEFT JOIN accounts_member m ON m.id = v.member_id "
    "WHERE v.{key} = %s AND v.purpose = %s"
)
_VERIFICATION_BY = {key: _VERIFICATION_SQL.replace("{key}", key) for key in ("id", "token_digest")}


def check_verification_code(
    *,
    purpose: VerificationPurpose,
    code: str,
    verification_id: int | None = None,
    verification_token: str | None = None,
) -> CodeCheck:
    """Check ``code`` for the verification with this id (pages keep it in the session)
    or this token (API clients hold it); a wrong code is counted. Call inside
    ``transaction.atomic()`` and raise ``refusal`` only after the block, so the count is
    committed:

        with transaction.atomic():
            check = check_verification_code(...)
            if check.verification is not None:
                ...  # the work the code unlocks, in the same transaction
        if check.refusal is not None:
            raise check.refusal
    """
    typed = tokens.normalize_code(code)
    if len(typed) != settings.VERIFICATION_CODE_DIGITS:
        return CodeCheck(
            refusal=ActionError(
                "code_malformed",
                _("Enter the %(digits)d-digit code from the SMS.")
                % {"digits": settings.VERIFICATION_CODE_DIGITS},
                field="code",
            )
        )
    key, value = (
        ("token_digest", verification_token_digest(verification_token))
        if verification_token is not None
        else ("id", verification_id)
    )
    verification = fetch_model(
        PhoneVerification,
        locking(_VERIFICATION_BY[key], of="v"),
        [value, purpose],
        related=["invitation", "invitation.inviter", "member"],
        extra=["registration_mode"],
    )
    now = clock.now()
    if (
        verification is None
        or verification.consumed_at is not None
        or verification.expires_at <= now
        or verification.failed_attempts >= settings.VERIFICATION_CODE_MAX_ATTEMPTS
    ):
        return CodeCheck(refusal=code_expired())
    # Past the number's daily cap of wrong codes, each new code gets one try: the owner,
    # who types the code from the SMS, still gets in; a guesser gets one guess per SMS.
    if verification.failed_attempts > 0 and _past_the_daily_cap(verification, now=now):
        return CodeCheck(refusal=_failures_exhausted())
    right = crypto.digests_equal(
        _code_digest(verification.token_digest, typed), verification.code_digest
    )
    if right and verification.can_succeed:
        return CodeCheck(verification=verification)
    _count_wrong_code(verification, purpose=purpose)
    remaining = settings.VERIFICATION_CODE_MAX_ATTEMPTS - verification.failed_attempts - 1
    if remaining <= 0:
        return CodeCheck(
            refusal=ActionError(
                "code_exhausted",
                _("Too many wrong codes. This code no longer works; start again to get a "
                  "new one."),
                status=410,
                field="code",
            )
        )
    # This wrong code reached the cap (it is counted above): no try is left to promise.
    if _past_the_daily_cap(verification, now=now):
        return CodeCheck(refusal=_failures_exhausted())
    return CodeCheck(
        refusal=ActionError(
            "code_wrong",
            ngettext(
                "The code is wrong. You have %(count)d more try.",
                "The code is wrong. You have %(count)d more tries.",
                remaining,
            )
            % {"count": remaining},
            field="code",
        )
    )


def _failures_exhausted() -> ActionError:
    return ActionError(
        "code_failures_exhausted",
        _("Too many wrong codes for this number. This code no longer works; ask for a new "
          "one and type it carefully."),
        status=410,
        field="code",
    )


def _past_the_daily_cap(verification: PhoneVerification, *, now: datetime) -> bool:
    return (
        _recent_failures(verification, now=now)
        >= settings.VERIFICATION_MAX_FAILURES_PER_NUMBER
    )


def _recent_failures(verification: PhoneVerification, *, now: datetime) -> int:
    """Wrong codes typed lately for this number and purpose across its real codes, and
    across the decoys made through the same link (a recovery's: through none). Another
    link's decoys do not count, so a stranger's link cannot use up the owner's tries;
    the decoys of this one do, so the cap answers alike for every number typed: a
    link holder cannot find the number it was sent to, nor anyone a member's number,
    by typing wrong codes until the answer changes."""
    total = PhoneVerification.objects.filter(
        Q(can_succeed=True) | Q(invitation=verification.invitation_id),
        phone_blind_index=verification.phone_blind_index,
        purpose=verification.purpose,
        created_at__gte=now - settings.VERIFICATION_FAILURE_WINDOW,
    ).aggregate(total=Sum("failed_attempts"))["total"]
    return int(total or 0)


def consume_verification(verification: PhoneVerification, *, checked_here: bool = False) -> None:
    """Mark the verification used and wipe its payload; refuse if it already was.

    ``checked_here``: ``check_verification_code`` read it in the caller's transaction,
    locked (SQLite: the transaction's write lock), so nobody can have used it since
    and nobody can until the caller commits: the UPDATE, which can no longer miss,
    goes in with the caller's ``written_together`` rows (one round trip fewer)."""
    values = {"consumed_at": clock.now(), **_WIPED}
    if checked_here:
        update_later(PhoneVerification, values, where="id = %s", params=[verification.id])
    elif update(
        PhoneVerification, values,
        where="id = %s AND consumed_at IS NULL", params=[verification.id],
    ) != 1:
        raise code_expired()
    record_code_verified(verification.region)


def sweep_old_verifications() -> int:
    """Delete verifications created before the failure window: they can no longer be
    confirmed, nor count as failures, and they hold an encrypted number (and, if never
    consumed, a password hash)."""
    deleted, _by_model = PhoneVerification.objects.filter(
        created_at__lt=clock.now() - settings.VERIFICATION_FAILURE_WINDOW
    ).delete()
    return deleted
