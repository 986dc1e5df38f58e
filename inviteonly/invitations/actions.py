"""Every write about invitations."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from inviteonly.abuse.actions import rate_limited_transaction, record_rate_limited
from inviteonly.abuse.limiter import Refusal, Subject
from inviteonly.abuse.sms_budget import sms_budget
from inviteonly.accounts.models import Member
from inviteonly.accounts.validation import clean_visible_text
from inviteonly.audit_log.actions import record_audit_entry
from inviteonly.audit_log.models import AuditAction
from inviteonly.invitation_requests.withdrawal import put_requests_back
from inviteonly.invitations.allowance import allowance_of, spend_allowance
from inviteonly.invitations.models import Invitation, InviteRightsGrant
from inviteonly.invitations.rights import allowance_refusal_reason, check_can_invite
from inviteonly.lib import clock, crypto, tokens
from inviteonly.lib.errors import ActionError
from inviteonly.lib.phone_numbers import PhoneNumber, normalize_phone_number
from inviteonly.lib.queries import (
    columns_of,
    fetch_dicts,
    fetch_model,
    insert_later,
    locking,
    written_together,
)
from inviteonly.lib.time_zones import shown_date
from inviteonly.moderation.actions import (
    check_end_date,
    clean_moderation_reason,
    decision_repeated,
    lock_for_moderation,
)
from inviteonly.moderation.queries import check_is_moderator
from inviteonly.notifications.actions import notify_member
from inviteonly.notifications.models import NotificationKind
from inviteonly.site_config.models import REGISTRATION_MODE_COLUMN
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
    """Invite the owner of ``phone``. If the number already belongs to a member, or has
    had its invitation SMS for the day, the inviter gets the same answer but no SMS
    leaves: the invitation simply expires."""
    number = normalize_phone_number(phone, region_hint=region_hint)
    note = clean_note(note)
    with (
        sms_budget(number=number, ip_address=ip_address, code=False),
        invitation_rate_limits(
            inviter=inviter, number=number, ip_address=ip_address
        ) as over_number_cap,
    ):
        return create_invitation(
            inviter=inviter, number=number, note=note, ip_address=ip_address,
            over_number_cap=over_number_cap,
        )


def invitation_rate_limits(
    *, inviter: Member, number: PhoneNumber, ip_address: str | None
) -> AbstractContextManager[Refusal | None]:
    """The transaction of an invitation (direct or granted), its ``invite`` rate limits
    counted first; it gives ``create_invitation`` its ``over_number_cap``. The number's
    daily invitation SMS (``RATE_LIMITS["invitation_sms"]``) never refuse, so that no
    answer tells an inviter that the number was invited today (or whose request a
    request is), and count only invitations that are made."""
    return rate_limited_transaction(
        ["invite"], Subject(ip=ip_address, member_id=inviter.id, number=number.e164),
        capped=["invitation_sms"],
    )


_INVITER_SQL = f"SELECT {columns_of(Member, 'm')} FROM accounts_member m WHERE m.id = %s"  # noqa: S608
# Read on every invitation sent, in one statement: is one this member sent to this
# number directly still pending (one sent on a request does not count: it would tell
# them whose request it was), whose number is it (see lib/queries.py), and is
# registration closed.
_PENDING_AND_OWNER_SQL = (
    "SELECT (SELECT MAX(i.expires_at) FROM invitations_invitation i "  # noqa: S608
    "WHERE i.inviter_id = %(inviter)s AND i.phone_blind_index = %(index)s "
    "AND NOT i.from_request "
    "AND i.redeemed_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > %(now)s"
    ") AS pending_until, "
    "m.id AS owner_id, m.display_name, m.status, p.findable_by_phone, "
    f"{REGISTRATION_MODE_COLUMN} "
    "FROM (SELECT 1) AS one "
    "LEFT JOIN accounts_member m ON m.phone_blind_index = %(index)s "
    "LEFT JOIN social_profile p ON p.member_id = m.id"
)


def create_invitation(
    *,
    inviter: Member,
    number: PhoneNumber,
    note: str,
    ip_address: str | None,
    language: str | None = None,
    from_request: bool = False,
    over_number_cap: Refusal | None = None,
) -> Invitation:
    """The invitation itself and its SMS (in ``language``, else the number's likely
    one), in the caller's transaction (or one of its own) — for callers that took the
    rate limit and the SMS budget already (``invitation_rate_limits``).

    ``from_request``: sent by granting an invitation request, whose number the inviter
    must not learn. Nothing about the number may then change the answer: a number they
    invited already is invited again, and a member's number, even one findable by
    phone, gets the answer any number gets and no SMS.

    ``over_number_cap``: the number has had its invitation SMS for the day. The
    invitation is made and answered as any other, but its SMS is suppressed, as a
    member's number's is, and the rule's audit entry goes in with the invitation's."""
    # The SMS, the invitation and its audit entry go in together as the block ends.
    with transaction.atomic(savepoint=False), written_together():
        # Lock the inviter: one invitation at a time per member.
        locked = fetch_model(Member, locking(_INVITER_SQL), [inviter.id])
        assert locked is not None  # a member is never deleted, only banned
        inviter = locked
        index = crypto.blind_index(number.e164)
        now = clock.now()
        (found,) = fetch_dicts(
            _PENDING_AND_OWNER_SQL, {"inviter": inviter.id, "index": index, "now": now},
            datetimes=["pending_until"],
        )
        # Refused while registration is closed too (the rights' last rule): nobody could
        # join through it, so no SMS for a link that cannot work.
        rights = check_can_invite(inviter, registration_mode=found["registration_mode"])
        if found["pending_until"] is not None and not from_request:
            raise ActionError(
                "invitation_pending",
                _("You have already invited this number. The invitation is valid until "
                  "%(date)s.")
                % {"date": shown_date(found["pending_until"])},
                status=409,
                field="phone",
            )
        # A member's number gets the answer any number gets, and no SMS — unless that
        # member chose to be findable by it: then the inviter may as well know.
        owned = found["owner_id"] is not None
        findable = found["findable_by_phone"] and found["status"] != Member.Status.BANNED
        if owned and findable and not from_request:
            raise ActionError(
                "already_a_member",
                _("%(name)s is already a member with this number.")
                % {"name": found["display_name"]},
                status=409,
                field="phone",
            )
        # The conditional UPDATE in spend_allowance, not the check above, is what keeps
        # concurrent sends from spending more than was earned.
        spent_allowance = not rights.unlimited
        if spent_allowance and not spend_allowance(inviter, now=now):
            raise ActionError(
                "no_invitations_left",
                allowance_refusal_reason(allowance_of(inviter, moment=now)),
                status=403,
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
            suppressed=owned or over_number_cap is not None,
        )
        invitation = insert_later(Invitation(
            inviter=inviter,
            token_digest=join_token_digest(token),
            phone_blind_index=index,
            phone_ciphertext=crypto.encrypt(number.e164, purpose=crypto.Purpose.PHONE_NUMBER),
            phone_masked=number.masked,
            note=note,
            created_at=now,
            expires_at=now + settings.INVITATION_TTL,
            sms=sms,
            spent_allowance=spent_allowance,
            from_request=from_request,
        ))
        record_audit_entry(
            AuditAction.INVITATION_CREATED,
            actor=inviter,
            invitation=invitation,
            ip_address=ip_address,
            phone_masked=number.masked,
            region=number.region,
        )
        if over_number_cap is not None:
            # After the invitation's own entry: on SQLite, in the same INSERT.
            record_rate_limited(over_number_cap, ip_address=ip_address)
    return invitation


@transaction.atomic
def do_revoke_invitation(
    *, member: Member, invitation_id: int, ip_address: str | None = None
) -> Invitation:
    """The inviter withdraws an invitation nobody has used yet: the join link dies. The
    allowance it spent comes back when it would have expired (allowance.py), not now:
    otherwise one invitation would do for any number of SMS to one number. One sent on
    a request puts the request back on the list."""
    invitation = (
        Invitation.objects.select_for_update().filter(id=invitation_id, inviter=member).first()
    )
    if invitation is None:
        raise ActionError("invitation_unknown", _("You sent no such invitation."), status=404)
    now = clock.now()
    if not revoke_pending_invitation(invitation, now=now, actor=member, ip_address=ip_address):
        raise ActionError(
            "invitation_not_revocable",
            _("Only an invitation that is still waiting for the invitee can be revoked."),
            status=409,
        )
    if invitation.from_request:
        put_requests_back(Invitation.objects.filter(id=invitation.id), now=now)
    invitation.refresh_from_db()
    return invitation


def revoke_pending_invitation(
    invitation: Invitation, *, now: datetime, actor: Member | None, ip_address: str | None
) -> bool:
    """Revoke ``invitation`` (locked by the caller, in its transaction) if it is still
    waiting for the invitee, as its inviter's revocation does: the join link dies, and
    the allowance it spent comes back when it would have expired (allowance.py). Used
    by that revocation and by a requester's withdrawing the request it was sent on
    (``actor`` None). Returns whether it revoked it."""
    # Conditional: a concurrent redemption or a second revoke leaves nothing to revoke.
    revoked = Invitation.objects.filter(
        id=invitation.id, redeemed_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    ).update(revoked_at=now, revoked_by_inviter=True)
    if revoked:
        record_audit_entry(
            AuditAction.INVITATION_REVOKED,
            actor=actor,
            invitation=invitation,
            ip_address=ip_address,
            phone_masked=invitation.phone_masked,
        )
    return bool(revoked)


@transaction.atomic
def do_grant_invite_rights(
    *, member: Member, moderator: Member, reason: str, ends_at: datetime | None = None,
    ip_address: str | None = None,
) -> InviteRightsGrant:
    """A moderator lets a member invite although an automatic rule says no (see
    rights.py), optionally until a date."""
    member = lock_for_moderation(moderator, member)
    reason = clean_moderation_reason(reason)
    now = clock.now()
    check_end_date(ends_at, now=now)
    # The same grant by the same moderator, still in force, a moment ago: a form sent
    # twice (a double click), as for sanctions (moderation.actions._just_imposed) — two
    # grants would need two withdrawals. The member's row lock makes the second wait
    # for the first.
    if InviteRightsGrant.objects.filter(
        member=member, granted_by=moderator, reason=reason, ends_at=ends_at,
        withdrawn_at__isnull=True,
        created_at__gt=now - timedelta(seconds=settings.MODERATION_REPEAT_WINDOW_SECONDS),
    ).exists():
        raise decision_repeated()
    grant = InviteRightsGrant.objects.create(
        member=member, reason=reason, granted_by=moderator, created_at=now, ends_at=ends_at
    )
    notify_member(member, NotificationKind.INVITE_RIGHTS_GRANTED, reason=reason, until=ends_at)
    record_audit_entry(
        AuditAction.INVITE_RIGHTS_GRANTED,
        actor=moderator,
        target_member=member,
        ip_address=ip_address,
        grant=grant.id,
        reason=reason,
        ends_at=ends_at.isoformat() if ends_at else None,
    )
    return grant


@transaction.atomic
def do_withdraw_invite_rights_grant(
    *, grant_id: int, moderator: Member, reason: str, ip_address: str | None = None
) -> InviteRightsGrant:
    check_is_moderator(moderator)
    found = InviteRightsGrant.objects.select_related("member").filter(id=grant_id).first()
    if found is None:
        raise ActionError("grant_unknown", _("There is no such grant."), status=404)
    # The member, then the grant: the lock order (moderation.actions).
    member = lock_for_moderation(moderator, found.member)
    grant = InviteRightsGrant.objects.select_for_update().get(id=grant_id)
    reason = clean_moderation_reason(reason)
    now = clock.now()
    if not grant.in_force_at(now):
        raise ActionError("grant_already_ended", _("This grant has already ended."), status=409)
    grant.withdrawn_at = now
    grant.withdrawn_by = moderator
    grant.save(update_fields=["withdrawn_at", "withdrawn_by"])
    record_audit_entry(
        AuditAction.INVITE_RIGHTS_GRANT_WITHDRAWN,
        actor=moderator,
        target_member=member,
        ip_address=ip_address,
        grant=grant.id,
        reason=reason,
    )
    notify_member(member, NotificationKind.INVITE_RIGHTS_GRANT_WITHDRAWN, reason=reason)
    return grant


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
