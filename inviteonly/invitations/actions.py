"""Every write about invitations."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import formats
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from inviteonly.abuse.actions import rate_limited_transaction
from inviteonly.abuse.limiter import Subject
from inviteonly.abuse.sms_budget import sms_budget
from inviteonly.accounts.models import Member
from inviteonly.accounts.validation import clean_visible_text
from inviteonly.audit_log.actions import record_audit_entry
from inviteonly.audit_log.models import AuditAction
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.rights import check_can_invite
from inviteonly.lib import clock, crypto, tokens
from inviteonly.lib.errors import ActionError
from inviteonly.lib.phone_numbers import PhoneNumber, normalize_phone_number
from inviteonly.sms.models import SmsPurpose
from inviteonly.sms.outbox import queue_sms
from inviteonly.sms.texts import invitation_text, language_for_number


def join_url(token: str) -> str:
    return f"{settings.BASE_URL}/j/{token}"


def join_token_digest(token: str) -> str:
    return crypto.token_digest(token, context="join")


def clean_note(note: str, *, limit: int | None = None) -> str:
    """A note for the other side (an inviter's, a requester's), at most ``limit``
    characters (default: an invitation note's)."""
    limit = limit or settings.INVITATION_NOTE_MAX_LENGTH
    note = clean_visible_text(note, field="note")
    if len(note) > limit:
        raise ActionError(
            "note_too_long",
            ngettext(
                "The note can be at most %(limit)d character long.",
                "The note can be at most %(limit)d characters long.",
                limit,
            )
            % {"limit": limit},
            field="note",
        )
    return note


def do_invite_by_phone(
    *,
    inviter: Member,
    phone: str,
    note: str = "",
    region_hint: str | None = None,
    ip_address: str | None = None,
) -> Invitation:
    """Invite the owner of ``phone``. If the number already belongs to a member, the
    inviter gets the same answer but no SMS leaves: the invitation simply expires."""
    number = normalize_phone_number(phone, region_hint=region_hint)
    note = clean_note(note)
    with (
        sms_budget(number=number, ip_address=ip_address, code=False),
        rate_limited_transaction(["invite"], Subject(ip=ip_address, member_id=inviter.id)),
    ):
        return create_invitation(inviter=inviter, number=number, note=note, ip_address=ip_address)


def create_invitation(
    *,
    inviter: Member,
    number: PhoneNumber,
    note: str,
    ip_address: str | None,
    language: str | None = None,
) -> Invitation:
    """The invitation itself and its SMS (in ``language``, else the number's likely
    one), in the caller's transaction (or one of its own) — for callers that took the
    rate limit and the SMS budget already."""
    with transaction.atomic(savepoint=False):
        # Lock the inviter: one invitation at a time per member (allowances build on this).
        inviter = Member.objects.select_for_update().get(id=inviter.id)
        check_can_invite(inviter)
        index = crypto.blind_index(number.e164)
        now = clock.now()
        pending = (
            Invitation.objects.filter(
                inviter=inviter,
                phone_blind_index=index,
                redeemed_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=now,
            )
            .order_by("-expires_at")
            .first()
        )
        if pending is not None:
            raise ActionError(
                "invitation_pending",
                _("You have already invited this number. The invitation is valid until "
                  "%(date)s.")
                % {"date": formats.date_format(pending.expires_at, "DATE_FORMAT")},
                status=409,
                field="phone",
            )
        token = tokens.new_join_token()
        sms = queue_sms(
            phone=number,
            text=invitation_text(
                inviter_name=inviter.display_name,
                link=join_url(token),
                language=language or language_for_number(number),
            ),
            purpose=SmsPurpose.INVITATION,
            suppressed=Member.objects.filter(phone_blind_index=index).exists(),
        )
        invitation = Invitation.objects.create(
            inviter=inviter,
            token_digest=join_token_digest(token),
            phone_blind_index=index,
            phone_ciphertext=crypto.encrypt(number.e164, purpose=crypto.Purpose.PHONE_NUMBER),
            phone_masked=number.masked,
            note=note,
            created_at=now,
            expires_at=now + settings.INVITATION_TTL,
            sms=sms,
        )
        record_audit_entry(
            AuditAction.INVITATION_CREATED,
            actor=inviter,
            invitation=invitation,
            ip_address=ip_address,
            phone_masked=number.masked,
            region=number.region,
        )
    return invitation


@transaction.atomic
def do_create_founder_invitation(
    *, phone: str | None = None, bootstrap: bool = False
) -> tuple[Invitation, str]:
    """An invitation without an inviter that makes its redeemer a founder. Returns the
    join token, which is shown once (printed by ``inviteonly founder`` and ``serve``).

    A ``bootstrap`` invitation (what ``serve`` prints on an empty site) works only
    while the site has no members, and replaces the previous bootstrap link: links
    left in old terminal logs cannot make founders later.
    """
    now = clock.now()
    if bootstrap:
        Invitation.objects.filter(
            is_bootstrap=True, redeemed_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
    token = tokens.new_join_token()
    number = normalize_phone_number(phone) if phone else None
    invitation = Invitation.objects.create(
        token_digest=join_token_digest(token),
        phone_blind_index=crypto.blind_index(number.e164) if number else "",
        phone_ciphertext=(
            crypto.encrypt(number.e164, purpose=crypto.Purpose.PHONE_NUMBER) if number else None
        ),
        phone_masked=number.masked if number else "",
        grants_role=Member.Role.FOUNDER,
        is_bootstrap=bootstrap,
        created_at=now,
        expires_at=now + settings.INVITATION_TTL,
    )
    record_audit_entry(
        AuditAction.FOUNDER_INVITATION_CREATED,
        invitation=invitation,
        phone_masked=number.masked if number else "",
    )
    return invitation, token
