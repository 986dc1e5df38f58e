"""Every write about members: joining, logging in and out, ending their other sessions,
recovering and changing a password, moving to a new number, leaving the network."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.sessions.backends.base import SessionBase
from django.db import IntegrityError, transaction
from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from inviteonly.abuse.actions import describe_wait, enforce_rate_limit, rate_limited_transaction
from inviteonly.abuse.limiter import DatabaseStore, KeyKind, Rule, Subject, hit_rules
from inviteonly.abuse.login_throttle import (
    begin_login_attempt,
    login_succeeded,
    reset_login_failures_as_joined,
    reset_login_failures_of_number,
)
from inviteonly.abuse.sms_budget import sms_budget
from inviteonly.accounts.device_tokens import device_throttle_key, issue_device_token
from inviteonly.accounts.models import Member, MemberSession
from inviteonly.accounts.sessions import (
    SessionStore,
    end_other_sessions,
    session_public_id,
    stored_session_key,
)
from inviteonly.accounts.validation import (
    check_new_password,
    clean_display_name,
    clean_language,
    clean_time_zone,
)
from inviteonly.audit_log.actions import record_audit_entry
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitation_requests.models import Vouch
from inviteonly.invitation_requests.withdrawal import put_requests_back
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.queries import (
    check_bootstrap_invitation,
    check_inviter_in_good_standing,
)
from inviteonly.lib import clock, crypto
from inviteonly.lib.clients import describe_client, masked_network
from inviteonly.lib.errors import ActionError
from inviteonly.lib.phone_numbers import PhoneNumber, normalize_phone_number, stored_phone_number
from inviteonly.lib.queries import (
    Changed,
    insert,
    update,
    update_later,
    update_later_counted,
    written_at_once,
    written_together,
)
from inviteonly.lib.time_zones import shown_date
from inviteonly.moderation.actions import lock_members
from inviteonly.notifications.actions import notify_member, withdraw_unread_notices
from inviteonly.notifications.models import Notification, NotificationKind
from inviteonly.phone_verification.actions import (
    StartedVerification,
    check_verification_code,
    code_expired,
    consume_verification,
    create_verification,
    used_with_code,
)
from inviteonly.phone_verification.models import PhoneVerification, VerificationPurpose
from inviteonly.site_config.models import RegistrationMode, get_site_configuration
from inviteonly.sms.models import SmsPurpose
from inviteonly.sms.outbox import queue_sms
from inviteonly.sms.texts import (
    join_code_text,
    language_for_number,
    phone_change_code_text,
    phone_moved_text,
    recovery_code_text,
)
from inviteonly.social.actions import lock_member_leaving
from inviteonly.social.avatars import delete_avatar_file
from inviteonly.social.models import (
    Block,
    FriendRequest,
    Friendship,
    IdempotencyKey,
    Participant,
    Profile,
    WallPost,
)


def check_registration_open(invitation: Invitation | None, *, mode: str | None = None) -> None:
    """Refuse a join the registration mode does not let in. ``mode``: the mode as read
    beside the caller's own rows (REGISTRATION_MODE_COLUMN); if None, it is read here."""
    if invitation is not None and invitation.grants_role == Member.Role.FOUNDER:
        return  # Founder invitations work in every mode: they are how a site starts.
    if mode is None:
        mode = get_site_configuration().registration_mode
    if mode == RegistrationMode.CLOSED:
        raise ActionError(
            "registration_closed",
            _("Registration is closed at the moment. Please try again later."),
            status=403,
        )
    if invitation is None and mode != RegistrationMode.OPEN:
        raise ActionError(
            "invitation_required",
            _("You can join only with an invitation from a member."),
            status=403,
        )


def do_start_join(
    *,
    invitation: Invitation | None,
    phone: str,
    display_name: str,
    password: str,
    language: str,
    region_hint: str | None = None,
    ip_address: str | None = None,
) -> StartedVerification:
    """Check what the newcomer typed and send a code to their number.

    The answer is the same whatever the number: one that already has an account gets
    its code (its owner learns about the account after typing it), and one the
    invitation was not sent to gets a decoy verification and no SMS. So a join link is
    no use for finding out which number it was sent to, or which numbers are members.
    """
    # An invitation from access_invitation_by_token comes with the mode, read beside it.
    check_registration_open(invitation, mode=getattr(invitation, "registration_mode", None))
    number = normalize_phone_number(phone, region_hint=region_hint)
    invited_number = (
        invitation is None
        or not invitation.phone_blind_index
        or crypto.digests_equal(crypto.blind_index(number.e164), invitation.phone_blind_index)
    )
    # Through a link, every number counts in counters of that link: a decoy's cannot
    # use up the number owner's SMS budget, and the invited number's, kept apart from
    # those recovery counts in, cannot tell it from a decoy by a cooldown that one of
    # the two would meet and the other not.
    link_scope = "" if invitation is None else f"link:{invitation.id}:"
    with sms_budget(
        number=number,
        ip_address=ip_address,
        code=True,
        rate_limits=["join", "send_code"],
        subject=Subject(ip=ip_address, number=number.e164, number_scope=link_scope),
    ):
        display_name = clean_display_name(display_name)
        language = clean_language(language)
        check_new_password(password)
        return _start_join(
            invitation=invitation, number=number, invited_number=invited_number,
            display_name=display_name, password=password, language=language,
            ip_address=ip_address,
        )


def _start_join(
    *,
    invitation: Invitation | None,
    number: PhoneNumber,
    invited_number: bool,
    display_name: str,
    password: str,
    language: str,
    ip_address: str | None,
) -> StartedVerification:
    # The one deliberately slow step, done before any lock is taken.
    password_hash = make_password(password)
    # The verification, its SMS and the audit entry go in together as the block ends,
    # its commit not waiting for the disk: a code lost with it is asked for again.
    with written_at_once(waits_for_disk=False):
        started, code = create_verification(
            purpose=VerificationPurpose.JOIN,
            phone=number,
            invitation=invitation,
            pending_display_name=display_name,
            pending_password_hash=password_hash if invited_number else "",
            pending_language=language,
            can_succeed=invited_number,
        )
        queue_sms(
            phone=number,
            text=join_code_text(code=code, language=language),
            purpose=SmsPurpose.JOIN_CODE,
            suppressed=not invited_number,
        )
        record_audit_entry(
            AuditAction.JOIN_STARTED,
            invitation=invitation,
            ip_address=ip_address,
            phone_masked=number.masked,
            region=number.region,
        )
    return started


def _phone_taken(verification: PhoneVerification | None) -> ActionError:
    """A code was typed right for a number that has an account. One held after its
    member left the network (LEFT_NUMBER_HOLD_DAYS) is said to be so, and until when:
    logging in and recovery answer for it as for an unknown number, and only the
    phone's holder gets this far (the code went to it)."""
    left_at = None if verification is None else (
        Member.objects.filter(
            phone_blind_index=verification.phone_blind_index, status=Member.Status.LEFT
        ).values_list("left_at", flat=True).first()
    )
    if left_at is not None:
        released = left_at + timedelta(days=settings.LEFT_NUMBER_HOLD_DAYS)
        return ActionError(
            "number_held",
            _("The member with this number left the network. The number can join again "
              "from %(date)s.") % {"date": shown_date(released)},
            status=409,
        )
    return ActionError(
        "phone_taken",
        _("This number already has an account. Log in, or recover your password "
          "if you have forgotten it."),
        status=409,
    )


def do_confirm_join(
    *,
    code: str,
    verification_id: int | None = None,
    verification_token: str | None = None,
    ip_address: str | None = None,
    on_joined: Callable[[Member], object] | None = None,
) -> Member:
    """Create the member if ``code`` is right for the verification (by id or token);
    redeem the invitation exactly once.

    One transaction: count the attempt, check and consume the code, insert the member
    (the unique blind index refuses a second account for the number), then redeem the
    invitation with a conditional UPDATE — of concurrent redemptions exactly one
    commits. ``on_joined(member)`` runs last in that transaction (the API starts the
    new member's session there), so a join commits once; the rows it adds after the
    member (audit entries, the inviter's notice, the session) go in together at the end,
    with the redemption, whose row count is checked then.
    """
    member = redeemed = None
    try:
        with rate_limited_transaction(["check_code"], Subject(ip=ip_address)):
            with written_together():
                check = check_verification_code(
                    verification_id=verification_id, verification_token=verification_token,
                    purpose=VerificationPurpose.JOIN, code=code,
                )
                if check.verification is not None:
                    member, redeemed = _create_member(check.verification, ip_address=ip_address)
                    if on_joined is not None:
                        on_joined(member)
            if redeemed is not None and redeemed.rows != 1:
                # Used, revoked or expired since it was read: nothing of the join stays.
                raise ActionError(
                    "invitation_used",
                    _("This invitation has already been used or has expired."),
                    status=410,
                )
    except IntegrityError as error:
        raise _phone_taken(check.verification) from error
    if check.refusal is not None:
        if check.refusal.code == "code_expired" and verification_token is not None:
            _refuse_if_joined_with(verification_token=verification_token, code=code)
        raise check.refusal
    assert member is not None
    return member


def _refuse_if_joined_with(*, verification_token: str, code: str) -> None:
    """A confirmation sent again after it made the account (an API client retrying
    after its answer was lost) is told to log in: starting again would end at
    "invitation used", or in open mode wait for a code that never comes. It gets no
    session: a code is used once."""
    verification = used_with_code(
        verification_token=verification_token, purpose=VerificationPurpose.JOIN, code=code
    )
    # Member.phone_blind_index is unique: one index probe.
    if verification is not None and Member.objects.filter(
        phone_blind_index=verification.phone_blind_index,
        joined_at__gte=verification.created_at,
    ).exists():
        raise ActionError(
            "already_joined",
            _("You have already joined. Log in with your phone number and password."),
            status=409,
        )


def _check_daily_member_cap() -> None:
    """Count this join against NEW_MEMBERS_PER_DAY. The counter lives in the database,
    inside the join's transaction: a join that fails later does not use up a place."""
    limit = settings.NEW_MEMBERS_PER_DAY
    if limit is None:
        return
    rule = Rule(action="new_member", key=KeyKind.GLOBAL, limit=limit, window_seconds=86400)
    refusal = hit_rules([rule], Subject(), store=DatabaseStore())
    if refusal is not None:
        raise ActionError(
            "daily_member_cap",
            _("So many people joined today that registration is paused until tomorrow. "
              "Please try again in %(wait)s.")
            % {"wait": describe_wait(refusal.retry_after_seconds)},
            status=429,
            retry_after=refusal.retry_after_seconds,
        )


def _create_member(
    verification: PhoneVerification, *, ip_address: str | None
) -> tuple[Member, Changed | None]:
    """The member, and the redemption of its invitation (if any) as it will have gone
    once the caller's ``written_together`` block has written: one row, or none if the
    invitation was used, revoked or expired meanwhile."""
    invitation = verification.invitation
    # Read with the verification (phone_verification/actions.py): no statement of its own.
    check_registration_open(invitation, mode=getattr(verification, "registration_mode"))  # noqa: B009
    if invitation is not None:
        check_bootstrap_invitation(invitation)
        check_inviter_in_good_standing(invitation)
    role = invitation.grants_role if invitation is not None else Member.Role.MEMBER
    if role != Member.Role.FOUNDER:
        _check_daily_member_cap()
    consume_verification(verification, checked_here=True)
    now = clock.now()
    member = insert(Member(
        display_name=verification.pending_display_name,
        phone_blind_index=verification.phone_blind_index,
        phone_ciphertext=verification.phone_ciphertext,
        phone_masked=verification.phone_masked,
        language=verification.pending_language,
        invited_by=invitation.inviter if invitation is not None else None,
        role=role,
        is_staff=role == Member.Role.FOUNDER,
        is_superuser=role == Member.Role.FOUNDER,
        password=verification.pending_password_hash,
        joined_at=now,
    ))
    member.place_in_tree()
    reset_login_failures_as_joined(member.phone_blind_index)
    record_audit_entry(
        AuditAction.MEMBER_JOINED,
        actor=member,
        target_member=member,
        invitation=invitation,
        ip_address=ip_address,
        phone_masked=member.phone_masked,
    )
    if invitation is None:
        return member, None
    redeemed = update_later_counted(
        Invitation, {"redeemed_at": now, "redeemed_by": member.pk},
        where="id = %s AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > %s",
        params=[invitation.id, now],
    )
    record_audit_entry(
        AuditAction.INVITATION_REDEEMED,
        actor=member,
        target_member=invitation.inviter,
        invitation=invitation,
        ip_address=ip_address,
    )
    if invitation.inviter is not None:
        notify_member(invitation.inviter, NotificationKind.INVITEE_JOINED, subject=member)
    return member, redeemed


def _login_refused() -> ActionError:
    return ActionError(
        "login_failed", _("The phone number or the password is wrong."), status=401
    )


@dataclass(frozen=True)
class Authenticated:
    """A member whose password was right, and the device token for the client that
    typed it (accounts/device_tokens.py): its next logins are throttled per token."""

    member: Member
    device_token: str


def authenticate_member(
    *, phone: str, password: str, region_hint: str | None = None,
    ip_address: str | None = None, device_token: str | None = None,
) -> Authenticated:
    """The member with this number and password, or one refusal for every failure.
    Failures are counted per number (abuse/login_throttle.py) and per address; an
    attempt that brings a valid ``device_token`` for the number (from an earlier login
    on this client) per token instead of per number. A success hands out a new device
    token; a failure none, so the answer is the same for every number. A member whose
    country the site stopped serving can still log in."""
    number = normalize_phone_number(phone, region_hint=region_hint, refuse_regions=False)
    enforce_rate_limit(["login"], Subject(ip=ip_address, number=number.e164))
    index = crypto.blind_index(number.e164)
    attempt = begin_login_attempt(
        index, device_key=device_throttle_key(device_token, phone_blind_index=index)
    )
    member = auth.authenticate(None, phone=number, password=password or "")
    if not isinstance(member, Member):
        record_audit_entry(
            AuditAction.LOGIN_FAILED, ip_address=ip_address, phone_masked=number.masked
        )
        raise _login_refused()
    login_succeeded(attempt)
    return Authenticated(member=member, device_token=issue_device_token(member))


def do_log_in(
    request: HttpRequest, *, member: Member, ip_address: str | None = None,
    just_joined: bool = False,
) -> None:
    """Start a session for ``member`` on ``request`` (a new session key, always) and
    store it. The password was checked on a member read before: a ban may have
    committed since, and ended their sessions. So the session is stored under the
    member's row lock, which a ban also takes (moderation.actions, lock order), and
    only if the member is not banned: a ban either deletes it or comes first and
    refuses it. So does a leave, and so does a recovery or a change of the password:
    the one checked must still be the member's. ``just_joined``: the member was
    created in the caller's transaction, where nobody can have banned them (no lock,
    no query, no savepoint)."""
    with transaction.atomic(savepoint=not just_joined):
        if not just_joined:
            status, password = (
                Member.objects.select_for_update(no_key=True)
                .filter(id=member.id).values_list("status", "password").get()
            )
            # Banned, or left the network (do_leave_network also ends every session);
            # or the password was recovered or changed since it was checked, which
            # ended every session: one stored now would be refused anyway.
            if status in (Member.Status.BANNED, Member.Status.LEFT) or password != member.password:
                raise _login_refused()
        # What the member's sessions page shows of this one (accounts/sessions.py);
        # the store's kind (web or API) is its creator's.
        session = request.session
        if isinstance(session, SessionStore):
            session.client = describe_client(request.META.get("HTTP_USER_AGENT", ""))
            session.network = masked_network(ip_address)
            session.created_at = None
        auth.login(request, member, backend="inviteonly.accounts.backends.PhonePasswordBackend")
        record_audit_entry(
            AuditAction.LOGIN_SUCCEEDED, actor=member, target_member=member,
            ip_address=ip_address,
        )
        # Django's middleware would store a page's session after the response, outside
        # the lock; it then finds it stored and only updates it.
        request.session.save()


def record_last_login(sender: object, user: Member, **kwargs: object) -> None:
    """``user_logged_in`` receiver (accounts/apps.py): what Django's ``update_last_login``
    does, in one UPDATE built once (a join's: with its last writes, in one UPDATE of the
    new member with its place in the tree)."""
    user.last_login = clock.now()
    update_later(Member, {"last_login": user.last_login}, where="id = %s", params=[user.pk])


def do_set_language(*, member: Member, language: str) -> None:
    """The language of the member's pages, notices and SMS (the switch on every page)."""
    language = clean_language(language)
    if member.language != language:
        update(Member, {"language": language}, where="id = %s", params=[member.pk])
        member.language = language


def do_set_time_zone(*, member: Member, time_zone: str) -> None:
    """The zone the member reads times in, on pages, in notices and in the API's
    messages; "" for the site's (SITE_TIME_ZONE)."""
    time_zone = clean_time_zone(time_zone)
    if member.time_zone != time_zone:
        update(Member, {"time_zone": time_zone}, where="id = %s", params=[member.pk])
        member.time_zone = time_zone


def do_log_out(request: HttpRequest, *, ip_address: str | None = None) -> None:
    member = request.user
    if isinstance(member, Member):
        record_audit_entry(
            AuditAction.LOGGED_OUT, actor=member, target_member=member, ip_address=ip_address
        )
    auth.logout(request)


def do_start_recovery(
    *, phone: str, region_hint: str | None = None, ip_address: str | None = None
) -> StartedVerification:
    """Send a recovery code if the number has an account; answer the same either way
    (the limits count every number alike)."""
    number = normalize_phone_number(phone, region_hint=region_hint)
    with sms_budget(
        number=number,
        ip_address=ip_address,
        code=True,
        rate_limits=["recover", "send_code"],
        subject=Subject(ip=ip_address, number=number.e164),
    ):
        member = Member.objects.filter(phone_blind_index=crypto.blind_index(number.e164)).first()
        recoverable = member if member is not None and member.is_active else None
        # The verification, its SMS and the audit entry go in together as the block ends,
        # its commit not waiting for the disk: a code lost with it is asked for again.
        with written_at_once(waits_for_disk=False):
            started, code = create_verification(
                purpose=VerificationPurpose.RECOVERY,
                phone=number,
                member=recoverable,
                can_succeed=recoverable is not None,
            )
            queue_sms(
                phone=number,
                text=recovery_code_text(
                    code=code,
                    language=recoverable.language if recoverable else language_for_number(number),
                ),
                purpose=SmsPurpose.RECOVERY_CODE,
                suppressed=recoverable is None,
            )
            record_audit_entry(
                AuditAction.RECOVERY_REQUESTED,
                # A member who left is no longer tied to the number (its mask below).
                target_member=None if member is None or member.status == Member.Status.LEFT
                else member,
                ip_address=ip_address,
                phone_masked=number.masked,
            )
    return started


def do_confirm_recovery(
    *,
    code: str,
    new_password: str,
    verification_id: int | None = None,
    verification_token: str | None = None,
    ip_address: str | None = None,
) -> Member:
    """Set a new password if ``code`` is right for the verification (by id or token).
    Every session of the member ends (deleted, as a password change ends the others: the
    sessions page lists none of them); the member is notified and not logged in."""
    check_new_password(new_password, field="new_password")
    enforce_rate_limit(["check_code"], Subject(ip=ip_address))
    with transaction.atomic():
        check = check_verification_code(
            verification_id=verification_id, verification_token=verification_token,
            purpose=VerificationPurpose.RECOVERY, code=code,
        )
    if check.refusal is not None:
        if check.refusal.code == "code_expired" and verification_token is not None:
            _refuse_if_recovered_with(verification_token=verification_token, code=code)
        raise check.refusal
    verification = check.verification
    assert verification is not None
    # Hashed between the two transactions: no lock is held for the slow part.
    password_hash = make_password(new_password)
    with transaction.atomic():
        consume_verification(verification)
        # check_verification_code confirms recovery verifications only with a member.
        assert verification.member_id is not None
        member = Member.objects.select_for_update().get(id=verification.member_id)
        if member.phone_blind_index != verification.phone_blind_index:
            # The account moved to another number since the code was sent (a recovery
            # that found it just before the move, too): its old number recovers nothing.
            raise code_expired()
        if not member.is_active:
            raise ActionError(
                "account_restricted",
                _("This account is restricted; its password cannot be changed."),
                status=403,
            )
        member.password = password_hash
        member.save(update_fields=["password"])
        end_other_sessions(member.id, keeping=None)
        reset_login_failures_of_number(member.phone_blind_index)
        notify_member(member, NotificationKind.PASSWORD_RECOVERED)
        record_audit_entry(
            AuditAction.PASSWORD_RECOVERED,
            actor=member,
            target_member=member,
            ip_address=ip_address,
        )
    return member


def _current_password_wrong() -> ActionError:
    return ActionError(
        "current_password_wrong", _("The current password is wrong."),
        field="current_password",
    )


def do_change_password(
    *,
    member: Member,
    session: SessionBase,
    current_password: str,
    new_password: str,
    ip_address: str | None = None,
    device_token: str | None = None,
) -> int:
    """Replace the password of ``member``, logged in on ``session``, once they typed the
    current one. Every other session of the member ends (deleted); ``session`` stays
    logged in under a new key, which the caller hands on (the cookie, or the API's new
    token). The member is notified. How many other sessions ended.

    The current password is a guess like a login's and is counted as one, before it is
    checked: the ``login`` rate limits of the address and the number's login throttle
    (abuse/login_throttle.py) — or, with the client's ``device_token``, the token's —,
    so a stolen session cannot guess faster than the login form allows. Banned members
    cannot (nor can they be logged in); quarantined may.
    """
    check_new_password(new_password, field="new_password")
    # The hash the typed password is checked against: the password must still be it
    # under the lock below (a recovery may commit meanwhile).
    checked_hash = Member.objects.filter(id=member.id).values_list("password", flat=True).get()
    if not _password_typed_again(
        member, current_password, hashed=checked_hash, subject=Subject(ip=ip_address),
        device_token=device_token,
    ):
        record_audit_entry(
            AuditAction.PASSWORD_CHANGE_FAILED, actor=member, target_member=member,
            ip_address=ip_address,
        )
        raise _current_password_wrong()
    if new_password == current_password:
        raise ActionError(
            "password_unchanged",
            _("The new password is the same as the current one. Choose another."),
            field="new_password",
        )
    # The one deliberately slow step, done before any lock is taken.
    password_hash = make_password(new_password)
    with transaction.atomic():
        # Lock order (moderation.actions.lock_members): the member, then their sessions.
        status, stored_hash = (
            Member.objects.select_for_update(no_key=True)
            .filter(id=member.id).values_list("status", "password").get()
        )
        if status == Member.Status.BANNED:
            raise ActionError(
                "account_restricted",
                _("This account is restricted; its password cannot be changed."),
                status=403,
            )
        if stored_hash != checked_hash:
            raise _current_password_wrong()
        update(Member, {"password": password_hash}, where="id = %s", params=[member.pk])
        member.password = password_hash
        ended = end_other_sessions(member.id, keeping=session.session_key)
        # As django.contrib.auth.update_session_auth_hash: a new key, and the hash of
        # the new password, so this session stays valid where the others would not.
        session.cycle_key()
        session[HASH_SESSION_KEY] = member.get_session_auth_hash()
        session.save()
        notify_member(member, NotificationKind.PASSWORD_CHANGED)
        record_audit_entry(
            AuditAction.PASSWORD_CHANGED,
            actor=member,
            target_member=member,
            ip_address=ip_address,
            count=ended,
        )
    return ended


def _lock_member_sessions(member: Member, session: SessionBase) -> tuple[str | None, list[str]]:
    """Under the member's lock (the lock order: the member, then their sessions): the
    stored key of ``session`` and of the member's others."""
    lock_members(member.id)
    current = session.session_key
    current_stored = stored_session_key(current) if current is not None else None
    stored = MemberSession.objects.filter(member_id=member.id).values_list(
        "session_key", flat=True
    )
    return current_stored, [key for key in stored if key != current_stored]


def do_end_other_sessions(
    *, member: Member, session: SessionBase, ip_address: str | None = None
) -> int:
    """Log ``member`` out everywhere but ``session`` ("log out everywhere else": a lost
    phone, a shared computer), pages and API tokens alike. How many sessions ended."""
    with transaction.atomic():
        lock_members(member.id)
        ended = end_other_sessions(member.id, keeping=session.session_key)
        record_audit_entry(
            AuditAction.OTHER_SESSIONS_ENDED,
            actor=member,
            target_member=member,
            ip_address=ip_address,
            count=ended,
        )
    return ended


def do_end_session(
    *, member: Member, session: SessionBase, session_id: str, ip_address: str | None = None
) -> None:
    """End the one session of ``member`` shown as ``session_id`` (the id the sessions page
    and the API show: ``sessions.session_public_id``). Another member's session answers as
    one that does not exist; ``session`` itself is ended by logging out."""
    with transaction.atomic():
        current, others = _lock_member_sessions(member, session)
        if current is not None and crypto.digests_equal(session_public_id(current), session_id):
            raise ActionError(
                "current_session",
                _("This is the session you are using now. To end it, log out."),
                status=409,
            )
        chosen = [key for key in others
                  if crypto.digests_equal(session_public_id(key), session_id)]
        if not chosen:
            raise ActionError(
                "session_not_found", _("There is no such session: it may have ended already."),
                status=404,
            )
        MemberSession.objects.filter(session_key=chosen[0]).delete()
        record_audit_entry(
            AuditAction.SESSION_ENDED,
            actor=member,
            target_member=member,
            ip_address=ip_address,
            count=1,
        )


def _refuse_if_recovered_with(*, verification_token: str, code: str) -> None:
    """A confirmation sent again after the password changed (an API client retrying
    after its answer was lost) is told to log in, not to start again: that would cost
    another SMS and set the password a second time."""
    verification = used_with_code(
        verification_token=verification_token, purpose=VerificationPurpose.RECOVERY, code=code
    )
    # Only a member's verification is ever confirmed; the audit entry is the change's
    # time (audit_log's index on target_member).
    if verification is not None and verification.member_id is not None and (
        AuditEntry.objects.filter(
            action=AuditAction.PASSWORD_RECOVERED,
            target_member_id=verification.member_id,
            created_at__gte=verification.created_at,
        ).exists()
    ):
        raise ActionError(
            "password_already_changed",
            _("Your password has already been changed. Log in with the new password."),
            status=409,
        )


def do_set_public_tree_visibility(*, member: Member, hidden: bool) -> None:
    """The member's choice to appear on the public tree page or not (moderators see
    every member either way)."""
    member.hidden_from_public_tree = hidden
    member.save(update_fields=["hidden_from_public_tree"])


def current_phone_number(member: Member) -> PhoneNumber:
    """The member's own number, decrypted: for the region hint of a number they type,
    and the SMS that tells it the account moved away."""
    return stored_phone_number(
        crypto.decrypt(bytes(member.phone_ciphertext), purpose=crypto.Purpose.PHONE_NUMBER)
    )


def _check_current_password(
    member: Member, *, password: str, ip_address: str | None, device_token: str | None
) -> None:
    """The member's password again, before their account may move: a session alone (left
    open on a shared computer, stolen) is not enough. Counted like a login with their
    number (the address's ``login`` limit, the number's waits and lockout, or those of
    the client's ``device_token``), so a session is no way around them for guessing it."""
    number = current_phone_number(member)
    if not _password_typed_again(
        member, password, hashed=member.password,
        subject=Subject(ip=ip_address, number=number.e164), device_token=device_token,
    ):
        record_audit_entry(
            AuditAction.LOGIN_FAILED, actor=member, target_member=member,
            ip_address=ip_address, phone_masked=number.masked,
        )
        raise _password_wrong()


def _password_wrong() -> ActionError:
    return ActionError(
        "password_wrong", _("The password is wrong."), status=403, field="password"
    )


def _password_typed_again(
    member: Member, password: str, *, hashed: str, subject: Subject, device_token: str | None
) -> bool:
    """Whether a logged-in member typed their password (``hashed``) again, counted like a
    login (the ``login`` limits of ``subject``, the number's waits and lockout — or,
    where the client brings a valid ``device_token`` for the number, as the pages do
    with their cookie, the token's, as a login would): a session is no way around them
    for guessing it. Not ``Member.check_password``: that stores a hash due for an
    upgrade anew, which would end every session of the member, this one included."""
    enforce_rate_limit(["login"], subject)
    index = member.phone_blind_index
    attempt = begin_login_attempt(
        index, device_key=device_throttle_key(device_token, phone_blind_index=index)
    )
    if not check_password(password or "", hashed):
        return False
    login_succeeded(attempt)
    return True


def _account_restricted() -> ActionError:
    return ActionError(
        "account_restricted",
        _("This account is restricted; its number cannot be changed."),
        status=403,
    )


def do_start_phone_change(
    *,
    member: Member,
    password: str,
    phone: str,
    region_hint: str | None = None,
    ip_address: str | None = None,
    device_token: str | None = None,
) -> StartedVerification:
    """Check the member's password and send a code to the number they move to.

    The answer is the same whatever the new number: nothing here looks it up. A member's
    number gets its code like any other, as a join sends one to a number that has an
    account; only whoever holds that phone, by typing the code, learns that it is taken
    (``do_confirm_phone_change``) — and they could learn it by recovering its password.
    So this is no way to find out which numbers are members'.
    """
    if not member.is_active:
        raise _account_restricted()
    current = current_phone_number(member)
    number = normalize_phone_number(phone, region_hint=region_hint or current.region or None)
    _check_current_password(
        member, password=password, ip_address=ip_address, device_token=device_token
    )
    with sms_budget(
        number=number,
        ip_address=ip_address,
        code=True,
        rate_limits=["phone_change", "send_code"],
        subject=Subject(ip=ip_address, member_id=member.id, number=number.e164),
    ):
        # Refused only now, counted: a session is no way to try numbers until one
        # turns out to be the member's own.
        if number.e164 == current.e164:
            raise ActionError(
                "phone_unchanged",
                _("This is already your account's number."),
                field="phone",
            )
        # The verification, its SMS and the audit entry go in together as the block ends,
        # its commit not waiting for the disk: a code lost with it is asked for again.
        with written_at_once(waits_for_disk=False):
            started, code = create_verification(
                purpose=VerificationPurpose.PHONE_CHANGE,
                phone=number,
                member=member,
                pending_language=member.language,
            )
            queue_sms(
                phone=number,
                text=phone_change_code_text(code=code, language=member.language),
                purpose=SmsPurpose.PHONE_CHANGE_CODE,
            )
            record_audit_entry(
                AuditAction.PHONE_CHANGE_REQUESTED,
                actor=member,
                target_member=member,
                ip_address=ip_address,
                phone_masked=number.masked,
                region=number.region,
            )
    return started


def do_confirm_phone_change(
    *,
    member: Member,
    code: str,
    verification_id: int | None = None,
    verification_token: str | None = None,
    keep_session_key: str | None = None,
    ip_address: str | None = None,
) -> Member:
    """Move the member to the number the code was sent to, if ``code`` is right for their
    verification (by id or token).

    One transaction: count the attempt, check and consume the code, lock the member and
    change their number (the unique blind index refuses a number another member holds,
    or took meanwhile: of two moves to one number, one commits), end every session but
    ``keep_session_key`` (the one that typed the code), forget both numbers' failed
    logins, write the audit entry and the notice, and queue an SMS to the old number.
    That SMS is counted against the site-wide SMS breaker first, like an invitation's.
    """
    # The number the account leaves, read before the lock for the SMS budget; the SMS
    # goes to the number read under it (a move committed in between changes only the
    # country whose budget was taken).
    old_number = current_phone_number(member)
    with sms_budget(
        number=old_number,
        ip_address=ip_address,
        code=False,
        rate_limits=["check_code"],
        subject=Subject(ip=ip_address),
    ):
        moved = None
        try:
            with transaction.atomic():
                check = check_verification_code(
                    verification_id=verification_id, verification_token=verification_token,
                    purpose=VerificationPurpose.PHONE_CHANGE, code=code,
                )
                if check.verification is not None:
                    moved = _move_member(
                        check.verification, member_id=member.id,
                        session_password=member.password,
                        keep_session_key=keep_session_key, ip_address=ip_address,
                    )
        except IntegrityError as error:
            raise _phone_taken(check.verification) from error
        if check.refusal is not None:
            raise check.refusal
    assert moved is not None
    return moved


def _move_member(
    verification: PhoneVerification,
    *,
    member_id: int,
    session_password: str,
    keep_session_key: str | None,
    ip_address: str | None,
) -> Member:
    """``session_password``: the password hash of the member as their session was checked
    against it, before this transaction."""
    if verification.member_id != member_id:
        # Another member's code: as if there were none (a token is never handed to
        # anyone but its member; a page keeps only its own verification's id).
        raise code_expired()
    # Lock order (moderation.actions.lock_members): the member, then their sessions. FOR
    # UPDATE, not NO KEY: the UPDATE below changes a unique column.
    member = Member.objects.select_for_update().get(id=member_id)
    if not member.is_active:
        raise _account_restricted()
    if member.password != session_password:
        # Recovered or changed since the session was checked, which ended that session
        # (a recovery by the old number, against whoever moves the account away).
        raise code_expired()
    consume_verification(verification, checked_here=True)
    old_index, old_masked = member.phone_blind_index, member.phone_masked
    old_number = current_phone_number(member)
    member.phone_blind_index = verification.phone_blind_index
    member.phone_ciphertext = verification.phone_ciphertext
    member.phone_masked = verification.phone_masked
    member.save(update_fields=["phone_blind_index", "phone_ciphertext", "phone_masked"])
    end_other_sessions(member.id, keeping=keep_session_key)
    # The old number's waits and lockout stay behind with it; the new one, proved by
    # its code, starts without those strangers may have typed for it. Device tokens of
    # either number are no tokens for this member any more (bound to the number).
    reset_login_failures_of_number(old_index)
    reset_login_failures_of_number(member.phone_blind_index)
    record_audit_entry(
        AuditAction.PHONE_CHANGED,
        actor=member,
        target_member=member,
        ip_address=ip_address,
        phone_masked=member.phone_masked,
        previous_phone_masked=old_masked,
    )
    notify_member(member, NotificationKind.PHONE_CHANGED)
    queue_sms(
        phone=old_number,
        text=phone_moved_text(new_number_masked=member.phone_masked, language=member.language),
        purpose=SmsPurpose.PHONE_MOVED_NOTICE,
    )
    return member


# What a held number's blind index becomes once LEFT_NUMBER_HOLD_DAYS have passed: no
# HMAC digest (64 hex digits) starts so, and the member's id keeps it unique.
RELEASED_INDEX_PREFIX = "left:"


def _cannot_leave() -> ActionError:
    return ActionError(
        "account_restricted",
        _("This account is restricted; it cannot leave the network."),
        status=403,
    )


def do_leave_network(
    *, member: Member, password: str, confirmed: bool, ip_address: str | None = None,
    device_token: str | None = None,
) -> Member:
    """The member leaves the network, once they typed their password (counted like a
    login, as for a new number) and confirmed.

    One transaction. The row stays, a node of the invitation tree (their invitees keep
    ``invited_by``; moderators still see it, and its sanctions stay), but nothing of the
    person: the status becomes ``left``, the name empty (shown as "Former member":
    ``models.shown_name``), the password unusable, the number's ciphertext and mask
    erased, on the invitation they joined with and their codes under way (used up) too
    — only its blind index is held,
    LEFT_NUMBER_HOLD_DAYS, so the number cannot join again at once
    (``release_left_numbers``). Every session ends; the profile (and
    its avatar file, once committed), friendships, friend requests and blocks either way,
    wall posts they wrote and those on their wall, their inbox rows, idempotency keys
    and notifications are deleted; their pending invitations are revoked (the requests
    those were sent on wait again) and their vouches for requests nobody granted yet are
    withdrawn. Their messages stay in the other members' conversations: those are the
    recipients' correspondence too."""
    if not confirmed:
        raise ActionError(
            "leave_not_confirmed",
            _("Tick the box to confirm that you want to leave the network."),
            field="confirm",
        )
    if not member.is_active:
        raise _cannot_leave()
    # Counted like a login; a wrong password commits its count and audit entry.
    _check_current_password(
        member, password=password, ip_address=ip_address, device_token=device_token
    )
    now = clock.now()
    with transaction.atomic():
        # What writes to, of or from the member at this moment ends first, and what
        # starts now waits, then finds them gone (social.actions.hold_members).
        lock_member_leaving(member.id)
        # Lock order (moderation.actions.lock_members): the member, then their sessions.
        status, stored_hash = (
            Member.objects.select_for_update(no_key=True)
            .filter(id=member.id).values_list("status", "password").get()
        )
        if status in (Member.Status.BANNED, Member.Status.LEFT):
            raise _cannot_leave()
        if stored_hash != member.password:
            # Changed or recovered since this session checked it: that ended the session.
            raise _password_wrong()
        avatar_name = (
            Profile.objects.filter(member_id=member.id).values_list("avatar", flat=True).first()
            or ""
        )
        end_other_sessions(member.id, keeping=None)
        pending = Invitation.objects.filter(
            inviter_id=member.id, redeemed_at__isnull=True, revoked_at__isnull=True,
            expires_at__gt=now,
        )
        revoked = pending.update(revoked_at=now)
        if revoked:
            put_requests_back(
                Invitation.objects.filter(inviter_id=member.id, revoked_at=now), now=now
            )
        # Their codes under way (a recovery, a new number) are used up, and keep no
        # number or pending name (the blind index stays: it counts the number's tries).
        PhoneVerification.objects.filter(member_id=member.id).update(
            consumed_at=Coalesce(F("consumed_at"), Value(now)), phone_ciphertext=b"",
            phone_masked="", pending_display_name="", pending_password_hash="",
        )
        # The invitation they joined with held their number too.
        Invitation.objects.filter(redeemed_by_id=member.id).update(
            phone_ciphertext=None, phone_masked=""
        )
        Vouch.objects.filter(member_id=member.id, request__granted_at__isnull=True).delete()
        Profile.objects.filter(member_id=member.id).delete()
        Friendship.objects.filter(Q(member_id=member.id) | Q(friend_id=member.id)).delete()
        # Their requests' unread notices go with them (read ones stay, as history).
        withdraw_unread_notices(
            NotificationKind.FRIEND_REQUEST, subject_id=member.id,
            member_ids=FriendRequest.objects.filter(sender_id=member.id).values("recipient_id"),
        )
        FriendRequest.objects.filter(
            Q(sender_id=member.id) | Q(recipient_id=member.id)
        ).delete()
        Block.objects.filter(Q(blocker_id=member.id) | Q(blocked_id=member.id)).delete()
        WallPost.objects.filter(Q(author_id=member.id) | Q(wall_owner_id=member.id)).delete()
        Participant.objects.filter(member_id=member.id).delete()
        IdempotencyKey.objects.filter(member_id=member.id).delete()
        Notification.objects.filter(member_id=member.id).delete()
        member.status = Member.Status.LEFT
        member.left_at = now
        member.display_name = ""
        member.set_unusable_password()
        member.phone_ciphertext = b""
        member.phone_masked = ""
        member.save(update_fields=[
            "status", "left_at", "display_name", "password", "phone_ciphertext",
            "phone_masked",
        ])
        record_audit_entry(
            AuditAction.MEMBER_LEFT,
            actor=member,
            target_member=member,
            ip_address=ip_address,
            revoked_invitations=revoked,
        )
        if avatar_name:
            transaction.on_commit(lambda: delete_avatar_file(avatar_name))
    return member


def release_left_numbers(*, now: datetime) -> int:
    """Part of `inviteonly sweep`: the numbers of members who left more than
    LEFT_NUMBER_HOLD_DAYS ago are let go — their blind index cleared (replaced by a
    value no number has, the column being unique), so the number may be invited and
    join again. How many."""
    return Member.objects.filter(
        status=Member.Status.LEFT,
        left_at__lte=now - timedelta(days=settings.LEFT_NUMBER_HOLD_DAYS),
    ).exclude(phone_blind_index__startswith=RELEASED_INDEX_PREFIX).update(
        phone_blind_index=Concat(
            Value(RELEASED_INDEX_PREFIX), Cast("id", output_field=CharField())
        ),
    )
