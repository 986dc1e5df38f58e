"""Asking for an invitation, vouching for a request, granting one."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from inviteonly.abuse.actions import enforce_rate_limit
from inviteonly.abuse.limiter import Subject
from inviteonly.abuse.sms_budget import sms_budget
from inviteonly.accounts.models import Member
from inviteonly.accounts.validation import clean_language, text_as_seen
from inviteonly.audit_log.actions import record_audit_entry
from inviteonly.audit_log.models import AuditAction
from inviteonly.invitation_requests.models import InvitationRequest, Vouch
from inviteonly.invitations.actions import (
    clean_note,
    create_invitation,
    invitation_rate_limits,
    revoke_pending_invitation,
)
from inviteonly.invitations.allowance import give_back_undelivered
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.rights import check_can_invite
from inviteonly.lib import clock, crypto, tokens
from inviteonly.lib.errors import ActionError
from inviteonly.lib.log_redaction import redact
from inviteonly.lib.phone_numbers import PhoneNumber, normalize_phone_number
from inviteonly.notifications.actions import notify_member
from inviteonly.notifications.models import NotificationKind
from inviteonly.sms.models import SmsStatus
from inviteonly.social.actions import hold_members
from inviteonly.social.rules import count_links


@dataclass(frozen=True)
class SubmittedRequest:
    """A request just made; ``status_token`` exists only here, never in the database."""

    request: InvitationRequest
    status_token: str


def status_token_digest(token: str) -> str:
    return crypto.token_digest(token, context="invitation-request")


# Something@somewhere.tld, whatever the domain (count_links knows only some).
_EMAIL_ADDRESS = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
# A username (Telegram's @ivan_petrov, an Instagram one) or an address without its
# domain's end (ivan@gmail): "@" and a name of four characters or more, a letter
# first — not "work @ Yandex", "c@t" or "2@3".
_USERNAME = re.compile(r"@[^\W\d_]\w{3,}")


def _check_no_contact_details(note: str) -> None:
    """Every member who may invite reads the note: a phone number, an e-mail address, a
    username or a link in it would hand the asker's contact (or someone else's) to all
    of them — the public begging for invitations, addresses included, that requests
    replace.
    Numbers are found as the log redaction finds them, links as the new-member limit
    counts them, in the text as a reader sees it."""
    seen = text_as_seen(note)
    if (
        _EMAIL_ADDRESS.search(seen) or _USERNAME.search(seen) or redact(seen) != seen
        or count_links(seen)
    ):
        raise ActionError(
            "note_has_contact",
            _("Leave out phone numbers, e-mail addresses, usernames and links: every "
              "member who may invite reads the note. Your number stays private; a member "
              "who grants the request sends the invitation to it."),
            field="note",
        )


def do_request_invitation(
    *,
    phone: str,
    note: str,
    language: str,
    region_hint: str | None = None,
    ip_address: str | None = None,
) -> SubmittedRequest:
    """Leave a request for members to grant. Nothing is sent to the number now.

    Every number gets the same answer, the same work and a listed request: a member's
    number too, and one with a request waiting (which is not replaced: nobody can
    swap someone else's note and vouches for theirs). Leaving such a request out of
    the list would tell anyone who can read it, by asking for a number with a note
    they would recognise, whether that number is a member's.
    """
    number = normalize_phone_number(phone, region_hint=region_hint)
    # The note is checked before the request is counted, as an invitation's is: a
    # requester told to leave out their number, then a link, has not used up the
    # number's two requests a day.
    note = clean_note(note, limit=settings.INVITATION_REQUEST_NOTE_MAX_LENGTH)
    if not note:
        raise ActionError(
            "note_required",
            _("Write a few words about yourself: members read them to decide."),
            field="note",
        )
    _check_no_contact_details(note)
    language = clean_language(language)
    enforce_rate_limit(["invitation_request"], Subject(ip=ip_address, number=number.e164))
    token = tokens.new_url_token(settings.VERIFICATION_TOKEN_BYTES)
    index = crypto.blind_index(number.e164)
    now = clock.now()
    with transaction.atomic():
        request = InvitationRequest.objects.create(
            status_token_digest=status_token_digest(token),
            phone_blind_index=index,
            phone_ciphertext=crypto.encrypt(number.e164, purpose=crypto.Purpose.PHONE_NUMBER),
            region=number.region,
            language=language,
            note=note,
            created_at=now,
            expires_at=now + settings.INVITATION_REQUEST_TTL,
        )
        record_audit_entry(
            AuditAction.INVITATION_REQUESTED,
            ip_address=ip_address,
            phone_masked=number.masked,
            region=number.region,
        )
    return SubmittedRequest(request=request, status_token=token)


def request_not_found() -> ActionError:
    return ActionError(
        "request_not_found",
        _("There is no request with this status link. Check that you copied all of it."),
        status=404,
    )


def _lock_invitation(invitation_id: int | None) -> Invitation | None:
    if invitation_id is None:
        return None
    return Invitation.objects.select_for_update().filter(id=invitation_id).first()


def do_withdraw_invitation_request(*, token: str, ip_address: str | None = None) -> None:
    """The requester takes their request back, whatever its state: the row goes, with
    the encrypted number, its blind index, the note and the vouches, so it leaves the
    members' list at once; the status link then leads nowhere. An invitation granted on
    it that nobody has used yet is revoked as its inviter's revocation does (the
    allowance it spent comes back when it would have expired). The answer is the same
    whatever the number; of two withdrawals at once, one does it and the other finds no
    request. An invitation nobody used loses the number as well.

    Locks the invitation before the request, as a revocation does (its
    ``put_requests_back`` writes the request after locking the invitation)."""
    digest = status_token_digest(token or "")
    with transaction.atomic():
        found = InvitationRequest.objects.filter(status_token_digest=digest).values_list(
            "id", "invitation_id"
        ).first()
        if found is None:
            raise request_not_found()
        request_id, invitation_id = found
        invitation = _lock_invitation(invitation_id)
        request = InvitationRequest.objects.select_for_update().filter(id=request_id).first()
        if request is None:  # withdrawn meanwhile
            raise request_not_found()
        if request.invitation_id != invitation_id:  # granted or revoked meanwhile
            invitation = _lock_invitation(request.invitation_id)
        now = clock.now()
        if invitation is not None:
            revoke_pending_invitation(invitation, now=now, actor=None, ip_address=ip_address)
            # Unused, it held the requester's number too: it goes, as the number of a
            # member who leaves does (the blind index stays: it counts the number's SMS).
            Invitation.objects.filter(id=invitation.id, redeemed_at__isnull=True).update(
                phone_ciphertext=None, phone_masked=""
            )
        request.delete()
        record_audit_entry(
            AuditAction.INVITATION_REQUEST_WITHDRAWN, ip_address=ip_address,
            region=request.region,
        )


def _request_not_open() -> ActionError:
    return ActionError(
        "request_not_open",
        _("This request has already been granted or has expired."),
        status=410,
    )


def _open_request(request_id: int, *, lock: bool = False) -> InvitationRequest:
    requests = InvitationRequest.objects.select_for_update() if lock else (
        InvitationRequest.objects
    )
    request = requests.filter(
        id=request_id, listed=True, granted_at__isnull=True, expires_at__gt=clock.now()
    ).first()
    if request is None:
        raise _request_not_open()
    return request


def do_vouch_for_request(*, member: Member, request_id: int) -> int:
    """Vouch once for an open request; return how many members vouch for it now."""
    check_can_invite(member, allowance_needed=False)
    with transaction.atomic():
        # Not once they left: their leave withdraws their vouches.
        hold_members(member.id)
        request = _open_request(request_id)
        _vouch, created = Vouch.objects.get_or_create(request=request, member=member)
        if created:
            record_audit_entry(AuditAction.INVITATION_REQUEST_VOUCHED, actor=member)
        return Vouch.objects.filter(request=request).count()


def do_grant_invitation_request(
    *, member: Member, request_id: int, ip_address: str | None = None
) -> Invitation:
    """Invite the person behind a request: ``member`` becomes the inviter (their rights
    and allowance apply as to any invitation) and the invitation SMS goes out, in the
    language the requester chose (``create_invitation`` checks the rights under its
    lock). The answer never depends on the number: not on whether the granter invited
    it already, nor on whether it is a member's, nor on how many invitations it had
    today, direct or granted (see ``create_invitation``). Of two members granting at
    once, one does."""
    number = _number_of(_open_request(request_id))
    with (
        sms_budget(number=number, ip_address=ip_address, code=False),
        invitation_rate_limits(
            inviter=member, number=number, ip_address=ip_address
        ) as over_number_cap,
    ):
        request = _open_request(request_id, lock=True)
        invitation = create_invitation(
            inviter=member, number=number, note="", ip_address=ip_address,
            language=request.language, from_request=True, over_number_cap=over_number_cap,
        )
        request.granted_by = member
        request.granted_at = invitation.created_at
        request.invitation = invitation
        request.listed = False
        request.save(update_fields=["granted_by", "granted_at", "invitation", "listed"])
        record_audit_entry(
            AuditAction.INVITATION_REQUEST_GRANTED, actor=member, invitation=invitation
        )
    return invitation


def settle_undelivered_invitations(*, sms_ids: Collection[int] | None = None) -> int:
    """Granted requests whose invitation SMS failed for good (of ``sms_ids``, or any):
    each invitation nobody used is revoked and its allowance given back now, the
    granter is notified (no number: they never see it), and the request is marked
    undelivered — its status tells the requester to check the number, withdraw and ask
    again; it is not listed again, since granted again its SMS would fail again.
    Returns how many.

    Called by the SMS worker and the delivery reports once they have recorded a
    failure, and by ``inviteonly sweep`` for any a dead worker left unsettled. Only a
    final failure counts (a retryable one leaves the message queued), and it is the
    outbox row's: a suppressed SMS (the number is a member's) fails only as a real one
    does while its gateway is down, so both requesters read the same. An invitation
    revoked before its SMS went out (its SMS failed unsent) no longer belongs to the
    request: its revocation put the request back."""
    undelivered = InvitationRequest.objects.filter(
        invitation_undelivered_at__isnull=True,
        invitation__sms__status=SmsStatus.FAILED,
        invitation__redeemed_at__isnull=True,
        invitation__revoked_at__isnull=True,
    )
    if sms_ids is not None:
        if not sms_ids:
            return 0
        undelivered = undelivered.filter(invitation__sms_id__in=sms_ids)
    return sum(
        _settle_undelivered(request_id, invitation_id, inviter_id)
        for request_id, invitation_id, inviter_id in undelivered.values_list(
            "id", "invitation_id", "invitation__inviter_id"
        )
    )


# The inviter's row, as the notice's foreign key takes it, but first thing: see below.
_INVITER_KEY_SHARE_SQL = "SELECT 1 FROM accounts_member WHERE id = %s FOR KEY SHARE"


def _settle_undelivered(request_id: int, invitation_id: int, inviter_id: int | None) -> int:
    """One request of ``settle_undelivered_invitations``, in its own transaction: 1 if
    it settled it, 0 if something settled, redeemed, revoked or withdrew it first.
    Locks the invitation before the request, as a revocation and a withdrawal do.

    On PostgreSQL it first waits for any invitation its inviter is sending (which
    locks the inviter, then writes their allowance): the notice's insert would wait for
    that lock while holding the allowance the invitation needs, a deadlock. The key
    share lock taken here first is the notice's own, so a revocation or a redemption
    (invitation, then that same lock) never waits for it."""
    with transaction.atomic():
        if inviter_id is not None and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_INVITER_KEY_SHARE_SQL, [inviter_id])
        invitation = Invitation.objects.select_for_update().filter(
            id=invitation_id, redeemed_at__isnull=True, revoked_at__isnull=True
        ).first()
        request = InvitationRequest.objects.select_for_update().filter(
            id=request_id, invitation_id=invitation_id, invitation_undelivered_at__isnull=True
        ).first()
        if invitation is None or request is None or invitation.inviter is None:
            return 0
        now = clock.now()
        # Revoked as its inviter's revocation does (an expired one stays as it is); the
        # allowance comes back at once, not at its expiry as after that revocation:
        # nothing reached the number, and the request is not granted again.
        revoke_pending_invitation(invitation, now=now, actor=None, ip_address=None)
        give_back_undelivered(invitation, now=now)
        request.invitation_undelivered_at = now
        request.save(update_fields=["invitation_undelivered_at"])
        notify_member(invitation.inviter, NotificationKind.REQUEST_INVITATION_UNDELIVERED)
        record_audit_entry(
            AuditAction.INVITATION_UNDELIVERED, invitation=invitation, region=request.region
        )
    return 1


def _number_of(request: InvitationRequest) -> PhoneNumber:
    """The request's number, checked again as any number typed now is: the operator may
    have refused its country (PHONE_*_REGIONS) since it was asked."""
    e164 = crypto.decrypt(request.phone_ciphertext, purpose=crypto.Purpose.PHONE_NUMBER)
    return normalize_phone_number(e164)


def sweep_old_requests() -> int:
    """Delete requests that ended more than a request's lifetime ago: their requester
    has had as long again to read the outcome, and they hold an encrypted number."""
    deleted, _by_model = InvitationRequest.objects.filter(
        expires_at__lt=clock.now() - settings.INVITATION_REQUEST_TTL
    ).delete()
    return deleted
