"""Every write about sanctions: warn, quarantine, ban, suspend invite rights, end a
sanction; what a ban does to the banned member's inviter (strikes); and reports:
filing one, and resolving an item's open reports with a decision."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from inviteonly.abuse.actions import enforce_rate_limit
from inviteonly.abuse.limiter import Subject
from inviteonly.accounts.models import Member
from inviteonly.accounts.sessions import end_sessions
from inviteonly.accounts.validation import clean_visible_text
from inviteonly.audit_log.actions import record_audit_entry
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitation_requests.withdrawal import put_requests_back
from inviteonly.invitations.allowance import give_back_revoked_by_ban
from inviteonly.invitations.models import Invitation
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.lib.time_zones import shown_date
from inviteonly.moderation.models import (
    STRIKES_REASON,
    Report,
    ReportDecision,
    ReportReason,
    ReportResolution,
    ReportTarget,
    Sanction,
    SanctionKind,
    Strike,
)
from inviteonly.moderation.queries import (
    ReportedItem,
    check_can_act_as_operator,
    check_can_moderate,
    check_is_moderator,
    conflict_of_interest,
    may_moderate,
    reported_item,
)
from inviteonly.notifications.actions import notify_member, notify_members
from inviteonly.notifications.models import NotificationKind
from inviteonly.social.actions import remove_message, remove_profile_content
from inviteonly.social.models import WallPost

_AUDIT_ACTION = {
    SanctionKind.WARN: AuditAction.MEMBER_WARNED,
    SanctionKind.QUARANTINE: AuditAction.MEMBER_QUARANTINED,
    SanctionKind.BAN: AuditAction.MEMBER_BANNED,
    SanctionKind.INVITE_SUSPENSION: AuditAction.INVITE_RIGHTS_SUSPENDED,
}


# What the member is told (a banned member cannot log in to read it); branch actions
# tell each member the same.
SANCTION_NOTICE = {
    SanctionKind.WARN: NotificationKind.WARNED,
    SanctionKind.QUARANTINE: NotificationKind.QUARANTINED,
    SanctionKind.INVITE_SUSPENSION: NotificationKind.INVITE_RIGHTS_SUSPENDED,
}
# What a member whose role an operator changed is told, by the role they now have.
_ROLE_NOTICE = {
    Member.Role.FOUNDER: NotificationKind.ROLE_FOUNDER,
    Member.Role.MODERATOR: NotificationKind.ROLE_MODERATOR,
    Member.Role.MEMBER: NotificationKind.ROLE_MEMBER,
}


def decision_repeated() -> ActionError:
    """The refusal of a decision made again a moment after the first (a form sent twice,
    a double click): within MODERATION_REPEAT_WINDOW_SECONDS it is not a second one."""
    return ActionError(
        "decision_repeated",
        _("This decision was just recorded; it was not made a second time."),
        status=409,
    )


def clean_moderation_reason(raw: str, *, field: str = "reason") -> str:
    """Every moderator decision says why: required, visible text, bounded."""
    reason = clean_visible_text(raw, field=field)
    if not reason:
        raise ActionError(
            "reason_required", _("Write the reason: the member and other moderators see it."),
            field=field,
        )
    limit = settings.MODERATION_REASON_MAX_LENGTH
    if len(reason) > limit:
        raise ActionError(
            "reason_too_long",
            ngettext(
                "The reason can be at most %(limit)d character long.",
                "The reason can be at most %(limit)d characters long.",
                limit,
            )
            % {"limit": limit},
            field=field,
        )
    return reason


# The latest end date a measure may have: one further off is a typo (a measure without
# end has none). It also keeps dates clear of year 10000, which PostgreSQL stores (in
# UTC, from 9999-12-31 at -14:00) and the driver cannot read back.
LATEST_END = timedelta(days=10 * 366)


def check_end_date(ends_at: datetime | None, *, now: datetime) -> None:
    if ends_at is None:
        return
    if ends_at <= now:
        raise ActionError(
            "ends_at_in_past", _("The end date must be in the future."), field="ends_at"
        )
    if ends_at > now + LATEST_END:
        raise ActionError(
            "ends_at_too_far",
            _("The end date must be within ten years. For no end, leave it empty."),
            field="ends_at",
        )


def sanctioned_status(*, now: datetime) -> Case:
    """The status a member's sanctions in force call for (a ban beats a quarantine), as
    an expression over Member rows: one UPDATE sets it for a whole branch. Status is
    never set otherwise, so a later decision cannot undo an earlier one."""

    def in_force(kind: SanctionKind) -> Exists:
        # Relies on the index sanction_member_recent.
        return Exists(
            Sanction.objects.in_force_at(now).filter(member_id=OuterRef("id"), kind=kind)
        )

    return Case(
        # A member who left stays gone, whatever is decided about them afterwards.
        When(status=Member.Status.LEFT, then=Value(Member.Status.LEFT.value)),
        When(in_force(SanctionKind.BAN), then=Value(Member.Status.BANNED.value)),
        When(in_force(SanctionKind.QUARANTINE), then=Value(Member.Status.QUARANTINED.value)),
        default=Value(Member.Status.ACTIVE.value),
    )


def _update_status(member: Member, *, now: datetime) -> None:
    """Set ``member``'s status to what their sanctions call for (row locked by the
    caller)."""
    status = (
        Member.objects.filter(id=member.id)
        .annotate(called_for=sanctioned_status(now=now))
        .values_list("called_for", flat=True)
        .get()
    )
    if status != member.status:
        member.status = status
        member.save(update_fields=["status"])


def _impose(
    *,
    member: Member,
    moderator: Member | None,
    kind: SanctionKind,
    reason: str,
    for_spam: bool = False,
    ends_at: datetime | None = None,
    repeat_allowed: bool = False,
    ip_address: str | None = None,
) -> Sanction:
    """Create the sanction, set the member's status, write the audit entry (with the
    address the decision came from). Runs inside the caller's transaction, with the
    member's row locked (so a form sent twice finds the first one's sanction).
    ``repeat_allowed``: the decision is about a reported item, and the same one about
    another item is another decision."""
    now = clock.now()
    if moderator is not None and not repeat_allowed and _just_imposed(
        member, moderator, kind=kind, reason=reason, for_spam=for_spam, ends_at=ends_at,
        now=now,
    ):
        raise decision_repeated()
    sanction = Sanction.objects.create(
        member=member,
        kind=kind,
        reason=reason,
        for_spam=for_spam,
        moderator=moderator,
        created_at=now,
        # A warning is over when given; it stays on the record.
        ends_at=now if kind == SanctionKind.WARN else ends_at,
    )
    _update_status(member, now=now)
    notice = SANCTION_NOTICE.get(kind)
    if moderator is not None and notice is not None:
        notify_member(member, notice, reason=reason, until=ends_at)
    record_audit_entry(
        _AUDIT_ACTION[kind],
        actor=moderator,
        target_member=member,
        ip_address=ip_address,
        sanction=sanction.id,
        kind=kind.value,
        reason=reason,
        for_spam=for_spam,
        ends_at=ends_at.isoformat() if ends_at else None,
    )
    return sanction


def _just_imposed(
    member: Member, moderator: Member, *, kind: SanctionKind, reason: str,
    for_spam: bool, ends_at: datetime | None, now: datetime,
) -> bool:
    """The same sanction by the same moderator, still on, a moment ago: a form sent
    twice (a double click), not a second decision."""
    same = Sanction.objects.filter(
        member=member, kind=kind, moderator=moderator, reason=reason, for_spam=for_spam,
        ended_at__isnull=True,
        created_at__gt=now - timedelta(seconds=settings.MODERATION_REPEAT_WINDOW_SECONDS),
    )
    if kind != SanctionKind.WARN:  # a warning ends when given: its end says nothing
        same = same.filter(ends_at=ends_at)
    return same.exists()


# Lock order. Every action that locks rows about members takes them in this order, so
# that two of them never wait for each other (PostgreSQL would end one of them with a
# deadlock error: a 500):
#   1. an item's open reports (do_resolve_reports);
#   2. members, by id: the member a decision is about with their inviter when it may
#      strike the inviter or withdraw a strike (one statement; an inviter's id is lower
#      than their invitees'), a branch (invitations.branch_actions), a login's member
#      (accounts.actions.do_log_in);
#   3. then those members' own rows: sanctions, strikes, grants, sessions.
# An action that ends a sanction or a grant reads it first without a lock, to find
# the member, and locks it after the member. Members are locked FOR NO KEY UPDATE: a
# plain FOR UPDATE would also hold up the checks of foreign keys to them (PostgreSQL
# defers those to COMMIT: a notice or an audit entry about an inviter, an invitee's
# row changed twice), which then wait for each other against this order. The one
# exception, a move to a new number (accounts.actions.do_confirm_phone_change), locks
# its member FOR UPDATE: its UPDATE of the unique blind index takes that lock anyway,
# and after it writes only the member's sessions, its two numbers' login throttles
# and new rows.


def lock_members(*member_ids: int) -> dict[int, Member]:
    """The members' rows, locked in id order (the lock order above), by id."""
    locked = (
        Member.objects.select_for_update(no_key=True)
        .filter(id__in=set(member_ids)).order_by("id")
    )
    return {member.id: member for member in locked}


def lock_for_moderation(
    moderator: Member, member: Member, *, with_inviter: bool = False
) -> Member:
    """The member's row, locked for the decision, with their inviter's if
    ``with_inviter`` (a decision that may strike the inviter or withdraw a strike);
    refuses if the moderator may not act on the member."""
    ids = [member.id]
    if with_inviter and member.invited_by_id is not None:
        ids.append(member.invited_by_id)
    member = lock_members(*ids)[member.id]
    check_can_moderate(moderator, member)
    return member


@transaction.atomic
def do_warn_member(
    *, member: Member, moderator: Member, reason: str, for_spam: bool = False,
    repeat_allowed: bool = False, ip_address: str | None = None,
) -> Sanction:
    member = lock_for_moderation(moderator, member)
    return _impose(
        member=member, moderator=moderator, kind=SanctionKind.WARN,
        reason=clean_moderation_reason(reason), for_spam=for_spam,
        repeat_allowed=repeat_allowed, ip_address=ip_address,
    )


@transaction.atomic
def do_quarantine_member(
    *, member: Member, moderator: Member, reason: str, for_spam: bool = False,
    repeat_allowed: bool = False, ip_address: str | None = None,
) -> Sanction:
    """The member cannot post, message or invite until a moderator reviews the case
    and ends the quarantine (``do_lift_sanction``)."""
    member = lock_for_moderation(moderator, member)
    return _impose(
        member=member, moderator=moderator, kind=SanctionKind.QUARANTINE,
        reason=clean_moderation_reason(reason), for_spam=for_spam,
        repeat_allowed=repeat_allowed, ip_address=ip_address,
    )


@transaction.atomic
def do_ban_member(
    *, member: Member, moderator: Member, reason: str, for_spam: bool = False,
    repeat_allowed: bool = False, ip_address: str | None = None,
) -> Sanction:
    member = lock_for_moderation(moderator, member, with_inviter=for_spam)
    reason = clean_moderation_reason(reason)
    sanction = _impose(
        member=member, moderator=moderator, kind=SanctionKind.BAN, reason=reason,
        for_spam=for_spam, repeat_allowed=repeat_allowed, ip_address=ip_address,
    )
    cut_off_banned(Member.objects.filter(id=member.id), actor=moderator,
                   now=sanction.created_at, ip_address=ip_address)
    record_ban_consequences(banned=member, reason=reason, for_spam=for_spam, actor=moderator,
                            ip_address=ip_address)
    return sanction


@transaction.atomic
def do_suspend_invite_rights(
    *, member: Member, moderator: Member, reason: str, ends_at: datetime | None = None,
    ip_address: str | None = None,
) -> Sanction:
    """A moderator takes a member's invite rights, optionally until a date (then the
    suspension lapses by itself)."""
    member = lock_for_moderation(moderator, member)
    check_end_date(ends_at, now=clock.now())
    return _impose(
        member=member, moderator=moderator, kind=SanctionKind.INVITE_SUSPENSION,
        reason=clean_moderation_reason(reason), ends_at=ends_at, ip_address=ip_address,
    )


@transaction.atomic
def do_lift_sanction(
    *, sanction_id: int, moderator: Member, reason: str, upheld: bool = False,
    ip_address: str | None = None,
) -> Sanction:
    """End a sanction now: a quarantine after review, a ban or suspension on appeal.
    ``upheld=False`` (the default) declares it a mistake: it then no longer counts
    against the member (a ban declared a mistake takes back the strike it gave the
    inviter, see ``_withdraw_strike``, and gives back the allowance of the invitations
    it revoked); ``upheld=True`` ends it but keeps it on the
    record."""
    check_is_moderator(moderator)
    found = Sanction.objects.select_related("member").filter(id=sanction_id).first()
    if found is None:
        raise ActionError("sanction_unknown", _("There is no such sanction."), status=404)
    # The member (and the inviter whose strike a mistaken ban may withdraw), then the
    # sanction: the lock order.
    member = lock_for_moderation(
        moderator, found.member, with_inviter=found.kind == SanctionKind.BAN and not upheld
    )
    if found.kind == SanctionKind.BAN and not upheld:
        refusal = conflict_of_interest(moderator, member)
        if refusal is not None:
            raise refusal
    sanction = Sanction.objects.select_for_update().get(id=sanction_id)
    reason = clean_moderation_reason(reason)
    now = clock.now()
    # Nothing to do: already declared a mistake, or asked to end what is already over.
    if not sanction.upheld or (upheld and not sanction.in_force_at(now)):
        raise ActionError(
            "sanction_already_ended", _("This sanction has already ended."), status=409
        )
    _end_sanction(sanction, member=member, moderator=moderator, reason=reason, upheld=upheld,
                  now=now, ip_address=ip_address)
    if sanction.kind == SanctionKind.BAN and not upheld:
        _withdraw_strike(banned=member, moderator=moderator, reason=reason, now=now,
                         ip_address=ip_address)
        # The invitations the ban revoked (cut_off_banned, at its start) give back
        # their allowance; audited as that revocation was.
        refunded = give_back_revoked_by_ban(member.id, revoked_at=sanction.created_at, now=now)
        if refunded:
            record_audit_entry(
                AuditAction.INVITATIONS_GIVEN_BACK_AFTER_BAN, actor=moderator,
                target_member=member, ip_address=ip_address, sanction=sanction.id,
                refunded=refunded,
            )
    return sanction


def _end_sanction(
    sanction: Sanction,
    *,
    member: Member,
    moderator: Member,
    reason: str,
    upheld: bool,
    now: datetime,
    ip_address: str | None = None,
) -> None:
    """End ``sanction`` of ``member`` (both rows locked), recompute the status, tell the
    member and write the audit entry."""
    if sanction.in_force_at(now):
        sanction.ended_at = now
    sanction.ended_by = moderator
    sanction.upheld = upheld
    sanction.end_reason = reason
    sanction.save(update_fields=["upheld", "ended_at", "ended_by", "end_reason"])
    _update_status(member, now=now)
    notify_member(member, NotificationKind.SANCTION_LIFTED, reason=reason)
    record_audit_entry(
        AuditAction.SANCTION_LIFTED,
        actor=moderator,
        target_member=member,
        ip_address=ip_address,
        sanction=sanction.id,
        kind=sanction.kind,
        reason=reason,
        upheld=upheld,
    )


# ---------------------------------------------------------------------------
# Operators (the admin)
# ---------------------------------------------------------------------------

# The sanction each status an operator may set calls for.
_SANCTION_FOR_STATUS = {
    Member.Status.BANNED: SanctionKind.BAN,
    Member.Status.QUARANTINED: SanctionKind.QUARANTINE,
    Member.Status.ACTIVE: None,
}


@transaction.atomic
def do_set_status_as_operator(
    *, member: Member, operator: Member, status: str, reason: str,
    ip_address: str | None = None,
) -> None:
    """An operator sets a member's status in the admin (founders included, whom no
    moderator acts on). The status stays what the sanctions in force call for: banned
    imposes a ban (sessions ended, pending invitations revoked), quarantined a
    quarantine, and the bans and quarantines in force that the status does not call for
    end, kept on the record (upheld); each is notified and audited as a moderator's
    decision is. A status no sanction called for (written straight to the row before
    the admin went through this action) changes with an audit entry of its own."""
    check_can_act_as_operator(operator, member)
    if status not in _SANCTION_FOR_STATUS:
        raise ActionError("invalid_status", _("Choose a status."), field="status")
    wanted = _SANCTION_FOR_STATUS[Member.Status(status)]
    member = lock_members(member.id)[member.id]
    reason = clean_moderation_reason(reason)
    now = clock.now()
    in_force = list(
        Sanction.objects.in_force_at(now).select_for_update()
        .filter(member=member, kind__in=[SanctionKind.BAN, SanctionKind.QUARANTINE])
        .order_by("id")
    )
    previous = member.status
    decided = False
    for sanction in in_force:
        if sanction.kind != wanted:
            _end_sanction(sanction, member=member, moderator=operator, reason=reason,
                          upheld=True, now=now, ip_address=ip_address)
            decided = True
    if wanted is not None and all(sanction.kind != wanted for sanction in in_force):
        sanction = _impose(member=member, moderator=operator, kind=wanted, reason=reason,
                           ip_address=ip_address)
        decided = True
        if wanted == SanctionKind.BAN:
            cut_off_banned(Member.objects.filter(id=member.id), actor=operator,
                           now=sanction.created_at, ip_address=ip_address)
    _update_status(member, now=now)
    if not decided and member.status != previous:
        record_audit_entry(
            AuditAction.STATUS_CHANGED, actor=operator, target_member=member,
            ip_address=ip_address, status=member.status, previous_status=previous,
            reason=reason,
        )


@transaction.atomic
def do_change_role(
    *, member: Member, operator: Member, role: str, reason: str,
    ip_address: str | None = None,
) -> None:
    """An operator makes a member a moderator or a founder, or takes the role back, in
    the admin. Founders get the admin with the role (staff and superuser, as a
    founder's join gives them); the others lose it."""
    check_can_act_as_operator(operator, member)
    if role not in Member.Role.values:
        raise ActionError("invalid_role", _("Choose a role."), field="role")
    member = lock_members(member.id)[member.id]
    reason = clean_moderation_reason(reason)
    previous = member.role
    if role == previous:
        return
    member.role = role
    member.is_staff = member.is_superuser = role == Member.Role.FOUNDER
    member.save(update_fields=["role", "is_staff", "is_superuser"])
    record_audit_entry(
        AuditAction.ROLE_CHANGED,
        actor=operator,
        target_member=member,
        ip_address=ip_address,
        role=role,
        previous_role=previous,
        reason=reason,
    )
    notify_member(member, _ROLE_NOTICE[Member.Role(role)], reason=reason)



def _counted_strikes(inviter_id: int, *, until: datetime) -> int:
    """The inviter's strikes that count, in the window that ends at ``until``."""
    return Strike.objects.filter(
        member_id=inviter_id,
        withdrawn_at__isnull=True,
        created_at__gt=until - timedelta(days=settings.INVITE_STRIKE_WINDOW_DAYS),
        created_at__lte=until,
    ).count()


def _withdraw_strike(
    *, banned: Member, moderator: Member, reason: str, now: datetime, ip_address: str | None
) -> None:
    """A ban of ``banned`` was declared a mistake: unless another upheld ban of theirs
    for spam stands, the strike it gave their inviter no longer counts. A suspension the strike
    rule imposed on the inviter ends too (as a mistake, with this moderator's reason)
    when the strikes still counting in the window before it was imposed would not have
    imposed it, and the moderator may act on the inviter (a moderator does not end
    their own suspension, nor a founder's); a suspension that more strikes still
    justify stays."""
    if Sanction.objects.filter(
        member_id=banned.id, kind=SanctionKind.BAN, upheld=True, for_spam=True
    ).exists():
        return
    strike = (
        Strike.objects.select_for_update()
        .filter(invitee_id=banned.id, withdrawn_at__isnull=True)
        .first()
    )
    if strike is None:
        return
    strike.withdrawn_at = now
    strike.save(update_fields=["withdrawn_at"])
    # Already locked, before the banned member (do_lift_sanction): the lock order.
    inviter = Member.objects.select_for_update(no_key=True).get(id=strike.member_id)
    record_audit_entry(
        AuditAction.STRIKE_WITHDRAWN,
        actor=moderator,
        target_member=inviter,
        ip_address=ip_address,
        reason=reason,
        strikes=_counted_strikes(inviter.id, until=now),
    )
    if not may_moderate(moderator, inviter):
        return
    suspensions = (
        Sanction.objects.in_force_at(now)
        .select_for_update()
        .filter(member=inviter, kind=SanctionKind.INVITE_SUSPENSION, moderator__isnull=True)
        .order_by("id")
    )
    for suspension in suspensions:
        if _counted_strikes(inviter.id, until=suspension.created_at) < (
            settings.INVITE_STRIKES_TO_SUSPEND
        ):
            _end_sanction(suspension, member=inviter, moderator=moderator, reason=reason,
                          upheld=False, now=now, ip_address=ip_address)


def cut_off_banned(
    members: QuerySet[Member], *, actor: Member, now: datetime, ip_address: str | None = None
) -> None:
    """What a ban does to the banned members' other rows, for one member or a whole
    branch alike, set-based: every session ends (lifting the ban later revives no
    cookie or token), their unredeemed invitations are revoked (no refund, unless the
    ban is declared a mistake: ``do_lift_sanction``), the
    requests those were sent on wait again, and each member whose invitations were
    revoked gets an audit entry saying how many."""
    end_sessions(members)
    pending = Invitation.objects.filter(
        inviter__in=members, redeemed_at__isnull=True, revoked_at__isnull=True,
        expires_at__gt=now,
    )
    # Relies on the index invitation_inviter_recent; one row per member with any.
    revoked_of = dict(
        pending.order_by().values("inviter_id").annotate(revoked=Count("id"))
        .values_list("inviter_id", "revoked")
    )
    if not revoked_of:
        return
    pending.update(revoked_at=now)
    put_requests_back(Invitation.objects.filter(inviter__in=members, revoked_at=now), now=now)
    # One INSERT (in batches) for a whole branch; the detail key is in
    # audit_log.actions.ALLOWED_DETAIL_KEYS, as record_audit_entry requires.
    AuditEntry.objects.bulk_create(
        AuditEntry(
            created_at=now, action=AuditAction.INVITATIONS_REVOKED_BY_BAN, actor=actor,
            target_member_id=inviter_id, ip_address=ip_address,
            details={"revoked_invitations": revoked},
        )
        for inviter_id, revoked in sorted(revoked_of.items())
    )


def record_ban_consequences(
    *, banned: Member, reason: str, for_spam: bool, actor: Member | None,
    ip_address: str | None = None,
) -> None:
    """Whom a ban holds to account beyond the banned member (``cut_off_banned`` ends
    their sessions and invitations): for a ban for spam, their inviter is notified with
    the reason and gets a strike; INVITE_STRIKES_TO_SUSPEND strikes within
    INVITE_STRIKE_WINDOW_DAYS suspend the inviter's invite rights for
    INVITE_STRIKE_SUSPENSION_DAYS. The strike and the suspension follow the role
    rules like any decision of the banning moderator: an inviter they may not act on
    (a founder; a moderator, unless a founder bans; themselves) gets neither, only a
    notice that says no strike (if someone else banned). Call inside the ban's
    transaction, with the inviter locked before the banned member (the lock order)."""
    now = clock.now()
    if not for_spam or banned.invited_by_id is None:
        return
    inviter = Member.objects.select_for_update(no_key=True).get(id=banned.invited_by_id)
    if actor is not None and not may_moderate(actor, inviter):
        if actor.id != inviter.id:
            notify_member(
                inviter, NotificationKind.INVITEE_BANNED_NO_STRIKE, subject=banned, reason=reason
            )
        return
    strike, created = Strike.objects.get_or_create(
        member=inviter, invitee=banned, defaults={"reason": reason, "created_at": now}
    )
    if not created:
        if strike.withdrawn_at is None:  # banned for spam before: one strike per invitee
            return
        # The earlier ban was a mistake; this one is not: the strike counts from now.
        strike.withdrawn_at, strike.created_at, strike.reason = None, now, reason
        strike.save(update_fields=["withdrawn_at", "created_at", "reason"])
    strikes = _counted_strikes(inviter.id, until=now)
    record_audit_entry(
        AuditAction.STRIKE_RECORDED,
        actor=actor,
        target_member=inviter,
        ip_address=ip_address,
        reason=reason,
        strikes=strikes,
    )
    notify_member(inviter, NotificationKind.INVITEE_BANNED, subject=banned, reason=reason)
    if strikes >= settings.INVITE_STRIKES_TO_SUSPEND:
        ends_at = now + timedelta(days=settings.INVITE_STRIKE_SUSPENSION_DAYS)
        _impose(
            member=inviter,
            moderator=None,
            kind=SanctionKind.INVITE_SUSPENSION,
            reason=STRIKES_REASON,
            ends_at=ends_at,
        )
        notify_member(inviter, NotificationKind.INVITE_RIGHTS_SUSPENDED, until=ends_at)


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


def do_report_item(
    *,
    reporter: Member,
    target_kind: str,
    target_id: int,
    reason: str,
    details: str = "",
    ip_address: str | None = None,
) -> Report:
    """Report a wall post, a message or a profile the reporter can see. One open
    report per reporter and item; counted by the ``report`` rate limit."""
    if reason not in ReportReason.values:
        raise ActionError(
            "invalid_report_reason", _("Choose why you report this."), field="reason"
        )
    details = clean_visible_text(details, field="details")
    limit = settings.REPORT_DETAILS_MAX_LENGTH
    if len(details) > limit:
        raise ActionError(
            "details_too_long",
            _("This text is too long: at most %(limit)d characters.") % {"limit": limit},
            field="details",
        )
    item = reported_item(reporter, target_kind=target_kind, target_id=target_id)
    if item.author.id == reporter.id:
        raise ActionError("own_content", _("You cannot report yourself."), status=400)
    _check_not_reported_lately(reporter, item)
    enforce_rate_limit(["report"], Subject(member_id=reporter.id, ip=ip_address))
    try:
        with transaction.atomic():
            report = Report.objects.create(
                reporter=reporter, target_kind=item.kind, target_id=item.target_id,
                target_member=item.author, excerpt=item.excerpt, reason=reason,
                details=details,
            )
            record_audit_entry(
                AuditAction.REPORT_FILED, actor=reporter, target_member=item.author,
                ip_address=ip_address, kind=item.kind, target=item.target_id, reason=reason,
            )
    except IntegrityError:  # the same report, sent twice at once
        raise _already_reported() from None
    return report


def _check_not_reported_lately(reporter: Member, item: ReportedItem) -> None:
    """Refuse the reporter's report about ``item`` while their earlier one is open, or
    for REPORT_REFILE_AFTER_DAYS after moderators dismissed it. One statement reads
    both: a dismissal committing meanwhile is seen either as the open report or as the
    dismissal, never as neither; two reports sent at once meet report_open_once."""
    refile_after = timedelta(days=settings.REPORT_REFILE_AFTER_DAYS)
    # Relies on the index of Report.reporter: a member files at most RATE_LIMITS["report"].
    earlier = list(
        Report.objects.filter(
            reporter=reporter, target_kind=item.kind, target_id=item.target_id
        )
        .filter(
            Q(resolved_at__isnull=True)
            | Q(resolution=ReportResolution.DISMISSED, resolved_at__gt=clock.now() - refile_after)
        )
        .order_by(F("resolved_at").desc(nulls_first=True))
        .values_list("resolved_at", flat=True)[:1]
    )
    if not earlier:
        return
    if earlier[0] is None:
        raise _already_reported()
    raise ActionError(
        "report_dismissed",
        _("The moderators looked at your report about this and found nothing to act on. "
          "You can report it again from %(date)s.")
        % {"date": shown_date(earlier[0] + refile_after)},
        status=409,
    )


def _already_reported() -> ActionError:
    return ActionError(
        "already_reported",
        _("You have already reported this; the moderators will look at it."),
        status=409,
    )


def _open_reports(target_kind: str, target_id: int) -> QuerySet[Report]:
    # Relies on the partial index report_open_item.
    return Report.objects.filter(
        target_kind=target_kind, target_id=target_id, resolved_at__isnull=True
    )


_RESOLUTION = {
    ReportDecision.DISMISS: ReportResolution.DISMISSED,
    ReportDecision.REMOVE: ReportResolution.CONTENT_REMOVED,
    ReportDecision.WARN: ReportResolution.WARNED,
    ReportDecision.QUARANTINE: ReportResolution.QUARANTINED,
    ReportDecision.BAN: ReportResolution.BANNED,
}

# What each reporter is told.
_REPORTER_NOTICE = {
    ReportResolution.DISMISSED: NotificationKind.REPORT_DISMISSED,
    ReportResolution.CONTENT_REMOVED: NotificationKind.REPORT_CONTENT_REMOVED,
    ReportResolution.WARNED: NotificationKind.REPORT_AUTHOR_WARNED,
    ReportResolution.QUARANTINED: NotificationKind.REPORT_AUTHOR_QUARANTINED,
    ReportResolution.BANNED: NotificationKind.REPORT_AUTHOR_BANNED,
}


def _remove_content(target_kind: str, target_id: int) -> bool:
    """Delete the reported post or message, or empty the reported profile; false if it
    was already gone."""
    if target_kind == ReportTarget.WALL_POST:
        deleted, _by_model = WallPost.objects.filter(id=target_id).delete()
        return bool(deleted)
    if target_kind == ReportTarget.MESSAGE:
        return remove_message(message_id=target_id)
    return remove_profile_content(member_id=target_id)


@transaction.atomic
def do_resolve_reports(
    *,
    moderator: Member,
    target_kind: str,
    target_id: int,
    decision: str,
    reason: str,
    for_spam: bool = False,
    ip_address: str | None = None,
) -> list[Report]:
    """Decide on a reported item: dismiss, remove it, or remove it and warn,
    quarantine or ban its author (a ban for spam strikes the author's inviter). Every
    open report about the item is resolved and its reporter notified."""
    check_is_moderator(moderator)
    if decision not in ReportDecision.values:
        raise ActionError("invalid_decision", _("Choose a decision."), field="decision")
    reason = clean_moderation_reason(reason)
    no_open_reports = ActionError(
        "no_open_reports", _("There are no open reports about this."), status=404
    )
    if target_kind not in ReportTarget.values:  # typed in a URL: anything, NUL included
        raise no_open_reports
    reports = list(_open_reports(target_kind, target_id).select_for_update().order_by("id"))
    author = Member.objects.get(id=reports[0].target_member_id) if reports else None
    # Whatever the decision, only on an item of the moderator's queue: one about a
    # member they may act on. Any other gets the answer for an item nobody reported, so
    # a moderator cannot even learn that they were reported.
    if author is None or not may_moderate(moderator, author):
        raise no_open_reports
    resolution = _RESOLUTION[ReportDecision(decision)]
    sanction = {
        ReportDecision.WARN: do_warn_member,
        ReportDecision.QUARANTINE: do_quarantine_member,
        ReportDecision.BAN: do_ban_member,
    }.get(ReportDecision(decision))
    if sanction is not None:  # first: it locks the author and checks the rank again
        sanction(
            member=author, moderator=moderator, reason=reason, for_spam=for_spam,
            repeat_allowed=True,  # each reported item is a decision of its own
            ip_address=ip_address,
        )
    if decision != ReportDecision.DISMISS and _remove_content(target_kind, target_id):
        record_audit_entry(
            AuditAction.REPORTED_CONTENT_REMOVED, actor=moderator, target_member=author,
            ip_address=ip_address, kind=target_kind, target=target_id, reason=reason,
        )
    now = clock.now()
    Report.objects.filter(id__in=[report.id for report in reports]).update(
        resolved_at=now, resolution=resolution, resolved_by=moderator,
        resolution_reason=reason,
    )
    notify_members(
        [report.reporter_id for report in reports], _REPORTER_NOTICE[resolution],
        subject=author,
        # The reporter reads the reason of a dismissal; a sanction's is the author's.
        reason=reason if resolution == ReportResolution.DISMISSED else "",
    )
    record_audit_entry(
        AuditAction.REPORTS_RESOLVED, actor=moderator, target_member=author,
        ip_address=ip_address, kind=target_kind, target=target_id,
        resolution=resolution.value, reason=reason, count=len(reports), for_spam=for_spam,
    )
    for report in reports:
        report.resolved_at, report.resolution = now, resolution
    return reports
