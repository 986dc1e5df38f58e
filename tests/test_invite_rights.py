"""Invite rights: each published rule (pass, fail, reason, date), the allowance (earning,
spending, refunds on revoke and expiry, exact under concurrency), moderator grants."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from io import StringIO

import pytest
from django.core import checks
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.actions import (
    do_grant_invite_rights,
    do_invite_by_phone,
    do_revoke_invitation,
    do_withdraw_invite_rights_grant,
)
from inviteonly.invitations.allowance import allowance_of, spend_allowance
from inviteonly.invitations.models import Invitation, InvitationState
from inviteonly.invitations.rights import RuleResult, RuleState, evaluate_invite_rights
from inviteonly.lib import clock as lib_clock
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.actions import (
    do_ban_member,
    do_lift_sanction,
    do_quarantine_member,
    do_warn_member,
)
from inviteonly.notifications.models import NotificationKind
from inviteonly.notifications.queries import recent_notifications
from inviteonly.sms.models import OutboundSms
from tests.conftest import FrozenClock, SmsOutbox, make_member
from tests.test_concurrency import race

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def rule(member: Member, name: str) -> RuleResult:
    return next(result for result in evaluate_invite_rights(member).rules if result.rule == name)


def number(index: int) -> str:
    return f"+7916333{index:04d}"


def test_account_age_rule_fails_with_the_date_then_passes(clock: FrozenClock) -> None:
    member = make_member(joined_at=clock.current - 18 * DAY)
    age = rule(member, "account_age")
    assert age.state == RuleState.FAILED
    assert age.passes_at == member.joined_at + 30 * DAY
    assert (age.progress, age.target) == (18, 30)
    assert "30 days old" in age.reason
    rights = evaluate_invite_rights(member)
    assert not rights.can_invite
    assert rights.days_to_wait == 12
    assert rights.can_invite_at == member.joined_at + 30 * DAY
    clock.advance(days=12)
    assert rule(member, "account_age").state == RuleState.PASSED
    assert evaluate_invite_rights(member).can_invite


def test_account_age_threshold_is_a_setting(clock: FrozenClock) -> None:
    member = make_member(joined_at=clock.current - 3 * DAY)
    with override_settings(INVITE_MIN_ACCOUNT_AGE_DAYS=2):
        assert rule(member, "account_age").state == RuleState.PASSED
    assert rule(member, "account_age").state == RuleState.FAILED


def test_account_age_reason_is_translated(clock: FrozenClock) -> None:
    member = make_member(joined_at=clock.current)
    with translation.override("ru"):
        age = rule(member, "account_age")
    assert "Вы сможете приглашать с" in age.reason, age.reason
    assert "30 дней" in age.title, age.title


@override_settings(INVITE_SANCTION_COOLDOWN_DAYS=1)
@pytest.mark.parametrize(("language", "phrase"), [
    ("en", "invite again 1 day after"), ("ru", "через 1 день после"),
])
def test_a_sanction_reason_of_one_day_says_day(
    clock: FrozenClock, founder: Member, language: str, phrase: str
) -> None:
    member = make_member(joined_at=clock.current - 400 * DAY)
    do_warn_member(member=member, moderator=founder, reason="Rude to newcomers")
    with translation.override(language):
        assert phrase in rule(member, "sanctions").reason


def test_upheld_sanction_blocks_for_ninety_days_and_a_lifted_one_does_not(
    clock: FrozenClock, founder: Member
) -> None:
    member = make_member(joined_at=clock.current - 400 * DAY)
    warning = do_warn_member(member=member, moderator=founder, reason="Rude to newcomers")
    sanctions = rule(member, "sanctions")
    assert sanctions.state == RuleState.FAILED
    assert sanctions.passes_at == warning.created_at + 90 * DAY
    assert "Warning" in sanctions.reason
    clock.advance(days=89)
    assert rule(member, "sanctions").state == RuleState.FAILED
    clock.advance(days=1)
    assert rule(member, "sanctions").state == RuleState.PASSED
    # A sanction ended as a mistake does not count at all.
    second = do_warn_member(member=member, moderator=founder, reason="Wrong person")
    assert rule(member, "sanctions").state == RuleState.FAILED
    do_lift_sanction(sanction_id=second.id, moderator=founder, reason="Mistaken identity")
    assert rule(member, "sanctions").state == RuleState.PASSED


def test_quarantine_fails_standing_without_a_date_until_reviewed(
    clock: FrozenClock, founder: Member
) -> None:
    member = make_member(joined_at=clock.current - 400 * DAY)
    quarantine = do_quarantine_member(member=member, moderator=founder, reason="Spam links")
    member.refresh_from_db()
    assert member.status == Member.Status.QUARANTINED
    rights = evaluate_invite_rights(member)
    standing = rights.rules[0]
    assert (standing.rule, standing.state, standing.passes_at) == (
        "standing", RuleState.FAILED, None,
    )
    assert rights.can_invite_at is None  # time alone does not fix it
    with pytest.raises(ActionError) as refused:
        do_invite_by_phone(inviter=member, phone=number(1))
    assert refused.value.code == "invite_not_allowed"
    assert "quarantined" in str(refused.value.message)
    do_lift_sanction(sanction_id=quarantine.id, moderator=founder, reason="Reviewed: fine")
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    assert evaluate_invite_rights(member).can_invite


def test_invitees_rule_applies_from_the_minimum_count(clock: FrozenClock) -> None:
    inviter = make_member(joined_at=clock.current - 400 * DAY)
    invitees = [make_member(invited_by=inviter) for _ in range(3)]
    Member.objects.filter(id=invitees[0].id).update(status=Member.Status.BANNED)
    # 1 of 3 is bad, but the rule needs 4 invitees before it applies.
    below = rule(inviter, "invitees")
    assert below.state == RuleState.PASSED
    assert "once you have invited 4" in below.reason
    make_member(invited_by=inviter)
    # 1 of 4 = 25 %: not above the limit.
    assert rule(inviter, "invitees").state == RuleState.PASSED
    Member.objects.filter(id=invitees[1].id).update(status=Member.Status.QUARANTINED)
    failed = rule(inviter, "invitees")
    assert failed.state == RuleState.FAILED
    assert failed.passes_at is None
    assert "2 of the 4 members you invited" in failed.reason


def test_trust_score_rule_is_inactive_until_scores_exist(clock: FrozenClock) -> None:
    member = make_member(joined_at=clock.current - 400 * DAY)
    assert rule(member, "trust_score").state == RuleState.INACTIVE
    assert evaluate_invite_rights(member).can_invite
    with override_settings(INVITE_TRUST_SCORE_PROVIDER="tests.test_invite_rights.low_score"):
        low = rule(member, "trust_score")
        assert low.state == RuleState.FAILED
        assert "0.20" in low.reason
        assert not evaluate_invite_rights(member).can_invite
    with override_settings(INVITE_TRUST_SCORE_PROVIDER="tests.test_invite_rights.high_score"):
        assert rule(member, "trust_score").state == RuleState.PASSED


def low_score(member: Member) -> float:
    return 0.2


def high_score(member: Member) -> float:
    return 0.9


def test_evaluation_makes_the_same_queries_whatever_the_number_of_invitees(
    clock: FrozenClock,
) -> None:
    inviter = make_member(joined_at=clock.current - 400 * DAY)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            evaluate_invite_rights(inviter)
        return len(captured.captured_queries)

    before = queries()
    for _ in range(25):
        make_member(invited_by=inviter)
    assert queries() == before <= 3


@pytest.mark.parametrize("min_age_days", [30, 0])
def test_a_just_joined_member_is_evaluated_like_any_other_without_a_query(
    clock: FrozenClock, min_age_days: int
) -> None:
    # With the default threshold a newcomer may not invite; with none they may, from
    # an allowance that is still empty: both answers must match the full evaluation.
    newcomer = make_member(joined_at=clock.current)
    with override_settings(INVITE_MIN_ACCOUNT_AGE_DAYS=min_age_days):
        full = evaluate_invite_rights(newcomer)
        with CaptureQueriesContext(connection) as captured:
            shortcut = evaluate_invite_rights(newcomer, just_joined=True)
    assert captured.captured_queries == []
    assert shortcut == full
    assert shortcut.failed_rules[0].rule == ("account_age" if min_age_days else "allowance")


def test_founders_and_moderators_pass_the_automatic_rules_and_have_no_allowance(
    clock: FrozenClock,
) -> None:
    moderator = make_member(role=Member.Role.MODERATOR, joined_at=clock.current)
    rights = evaluate_invite_rights(moderator)
    assert rights.can_invite and rights.unlimited and rights.allowance is None
    states = {result.rule: result.state for result in rights.rules}
    assert states["account_age"] == states["allowance"] == RuleState.WAIVED
    for index in range(7):  # more than any allowance
        do_invite_by_phone(inviter=moderator, phone=number(index))
    assert not Invitation.objects.filter(spent_allowance=True).exists()


# --- the allowance ----------------------------------------------------------------


def test_allowance_is_earned_weekly_up_to_five(clock: FrozenClock) -> None:
    member = make_member(joined_at=clock.current - 30 * DAY)
    allowance = allowance_of(member, moment=clock.current)
    assert (allowance.available, allowance.maximum) == (4, 5)
    assert allowance.next_earned_at == member.joined_at + 35 * DAY
    clock.advance(days=5)
    assert allowance_of(member, moment=clock.current).available == 5
    assert allowance_of(member, moment=clock.current).next_earned_at is None
    clock.advance(days=300)
    assert allowance_of(member, moment=clock.current).available == 5


def test_sending_spends_and_an_empty_allowance_refuses_with_the_next_date(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    member = make_member(joined_at=clock.current - 30 * DAY)
    for index in range(4):
        invitation = do_invite_by_phone(inviter=member, phone=number(index))
        assert invitation.spent_allowance
    with pytest.raises(ActionError) as refused:
        do_invite_by_phone(inviter=member, phone=number(9))
    assert refused.value.code == "no_invitations_left"
    assert refused.value.status == 403
    assert "The next one arrives on" in str(refused.value.message)
    assert Invitation.objects.count() == 4 and OutboundSms.objects.count() == 4
    rights = evaluate_invite_rights(member)
    assert rights.failed_rules[0].rule == "allowance"
    assert rights.can_invite_at == member.joined_at + 35 * DAY
    clock.advance(days=5)
    do_invite_by_phone(inviter=member, phone=number(9))
    assert allowance_of(member, moment=clock.current).available == 0


def test_at_most_five_are_kept_when_spending_after_a_long_pause(clock: FrozenClock) -> None:
    member = make_member(joined_at=clock.current - 1000 * DAY)
    do_invite_by_phone(inviter=member, phone=number(1))
    assert allowance_of(member, moment=clock.current).available == 4
    clock.advance(days=7)
    assert allowance_of(member, moment=clock.current).available == 5


def test_a_refused_send_spends_nothing(clock: FrozenClock) -> None:
    member = make_member(joined_at=clock.current - 7 * DAY)
    with override_settings(INVITE_MIN_ACCOUNT_AGE_DAYS=1):
        with pytest.raises(ActionError) as refused:
            do_invite_by_phone(inviter=member, phone="+1 800 555 0199")  # toll-free
        assert refused.value.field == "phone"
        assert allowance_of(member, moment=clock.current).available == 1
        do_invite_by_phone(inviter=member, phone=number(1))
    assert allowance_of(member, moment=clock.current).available == 0


def test_a_revoked_invitation_gives_its_allowance_back_when_it_would_have_expired(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    member = make_member(joined_at=clock.current - 14 * DAY)
    with override_settings(INVITE_MIN_ACCOUNT_AGE_DAYS=1):
        first = do_invite_by_phone(inviter=member, phone=number(1))
        do_invite_by_phone(inviter=member, phone=number(2))
        assert allowance_of(member, moment=clock.current).available == 0
        sms_outbox.deliver()  # sent at once, as by the worker: revoked later
        revoked = do_revoke_invitation(member=member, invitation_id=first.id)
        assert revoked.state == InvitationState.REVOKED
        assert revoked.allowance_refunded_at is None
        # Not at once: revoking and sending again would be a free loop of SMS.
        assert allowance_of(member, moment=clock.current).available == 0
        with pytest.raises(ActionError) as spent:
            do_invite_by_phone(inviter=member, phone=number(1))
        assert spent.value.code == "no_invitations_left"
        assert len(sms_outbox.to(number(1))) == 1
        with pytest.raises(ActionError) as again:
            do_revoke_invitation(member=member, invitation_id=first.id)
        assert again.value.code == "invitation_not_revocable"
        assert again.value.status == 409
        clock.current = first.expires_at - timedelta(seconds=1)
        assert allowance_of(member, moment=clock.current).available == 0
        # At its original expiry it comes back, like the unrevoked one beside it, through
        # the same computation and settlement as any expired invitation.
        clock.current = first.expires_at
        assert allowance_of(member, moment=clock.current).available == 3
        output = StringIO()
        call_command("sweep", stdout=output)
        assert "Gave back the allowance of 2 expired invitations." in output.getvalue()
        call_command("sweep", verbosity=0)
        assert allowance_of(member, moment=clock.current).available == 3
        assert Invitation.objects.filter(allowance_refunded_at__isnull=False).count() == 2
        # The refund is spendable.
        do_invite_by_phone(inviter=member, phone=number(3))
        assert allowance_of(member, moment=clock.current).available == 2
    entry = AuditEntry.objects.get(action=AuditAction.INVITATION_REVOKED)
    assert entry.actor == member and entry.invitation_id == first.id


def test_a_ban_revokes_without_a_refund_even_after_expiry(
    clock: FrozenClock, founder: Member, sms_outbox: SmsOutbox
) -> None:
    member = make_member(joined_at=clock.current - 30 * DAY)  # four earned
    invitation = do_invite_by_phone(inviter=member, phone=number(1))
    do_ban_member(member=member, moderator=founder, reason="Selling invitations")
    clock.current = invitation.expires_at + DAY  # a fifth earned, none given back
    assert allowance_of(member, moment=clock.current).available == 4
    output = StringIO()
    call_command("sweep", stdout=output)
    assert "Gave back" not in output.getvalue()
    assert Invitation.objects.get().allowance_refunded_at is None


def test_only_the_inviter_can_revoke_and_only_while_pending(
    clock: FrozenClock, founder: Member, sms_outbox: SmsOutbox
) -> None:
    invitation = do_invite_by_phone(inviter=founder, phone=number(1))
    stranger = make_member()
    with pytest.raises(ActionError) as refused:
        do_revoke_invitation(member=stranger, invitation_id=invitation.id)
    assert refused.value.status == 404
    clock.advance(days=8)
    with pytest.raises(ActionError) as expired:
        do_revoke_invitation(member=founder, invitation_id=invitation.id)
    assert expired.value.code == "invitation_not_revocable"
    assert Invitation.objects.get().revoked_at is None


def test_an_expired_invitation_is_refunded_exactly_once(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    member = make_member(joined_at=clock.current - 14 * DAY)
    with override_settings(INVITE_MIN_ACCOUNT_AGE_DAYS=1):
        do_invite_by_phone(inviter=member, phone=number(1))
        do_invite_by_phone(inviter=member, phone=number(2))
        clock.advance(days=6)
        assert allowance_of(member, moment=clock.current).available == 0
        clock.advance(days=1, seconds=1)  # both expired; a third week earned one more
        # Counted as given back as soon as they expire, before any sweep...
        assert allowance_of(member, moment=clock.current).available == 3
        output = StringIO()
        call_command("sweep", stdout=output)
        assert "Gave back the allowance of 2 expired invitations." in output.getvalue()
        # ...and the sweep settles them without counting them twice.
        assert allowance_of(member, moment=clock.current).available == 3
        assert Invitation.objects.filter(allowance_refunded_at__isnull=False).count() == 2
        call_command("sweep", verbosity=0)
        do_invite_by_phone(inviter=member, phone=number(3))
        assert allowance_of(member, moment=clock.current).available == 2


def test_a_send_settles_expired_refunds_without_the_sweep(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    member = make_member(joined_at=clock.current - 7 * DAY)
    with override_settings(INVITE_MIN_ACCOUNT_AGE_DAYS=1):
        do_invite_by_phone(inviter=member, phone=number(1))
        clock.advance(days=7, seconds=1)
        # One earned this week plus the expired one back.
        assert allowance_of(member, moment=clock.current).available == 2
        do_invite_by_phone(inviter=member, phone=number(2))
        do_invite_by_phone(inviter=member, phone=number(3))
        with pytest.raises(ActionError):
            do_invite_by_phone(inviter=member, phone=number(4))
    assert Invitation.objects.filter(allowance_refunded_at__isnull=False).count() == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_sends_against_an_allowance_of_three_send_exactly_three() -> None:
    # Three weeks of earning: an allowance of three.
    member = make_member(joined_at=lib_clock.now() - timedelta(days=21, hours=1))
    with override_settings(INVITE_MIN_ACCOUNT_AGE_DAYS=1):
        assert evaluate_invite_rights(member).allowance.available == 3  # type: ignore[union-attr]
        outcomes = race(
            [partial(do_invite_by_phone, inviter=member, phone=number(i)) for i in range(20)]
        )
    assert outcomes.count("joined") == 3, outcomes  # race() calls a success "joined"
    assert outcomes.count("no_invitations_left") == 17, outcomes
    assert Invitation.objects.filter(inviter=member).count() == 3
    assert OutboundSms.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_conditional_update_alone_never_overspends() -> None:
    """Without the inviter's row lock that do_invite_by_phone takes: the allowance
    itself is exact."""
    member = make_member(joined_at=lib_clock.now() - timedelta(days=21, hours=1))
    spend_allowance(member, now=lib_clock.now())  # creates the row: two left

    def spend() -> None:
        with transaction.atomic():
            if not spend_allowance(member, now=lib_clock.now()):
                raise ActionError("no_invitations_left", "none")

    outcomes = race([spend] * 20)
    assert outcomes.count("joined") == 2, outcomes
    assert allowance_of(member, moment=lib_clock.now()).available == 0


# --- moderator grants ------------------------------------------------------------


def test_a_grant_waives_the_automatic_rules_until_it_ends_and_is_audited(
    clock: FrozenClock, founder: Member
) -> None:
    moderator = make_member(role=Member.Role.MODERATOR)
    member = make_member(joined_at=clock.current - 8 * DAY)
    assert not evaluate_invite_rights(member).can_invite
    grant = do_grant_invite_rights(
        member=member, moderator=moderator, reason="Known organiser",
        ends_at=clock.current + 10 * DAY,
    )
    rights = evaluate_invite_rights(member)
    assert rights.can_invite and rights.grant == grant
    age = next(result for result in rights.rules if result.rule == "account_age")
    assert age.state == RuleState.WAIVED
    assert "granted you invite rights until" in age.reason
    # The allowance still applies: one earned in 8 days.
    assert rights.allowance is not None and rights.allowance.available == 1
    entry = AuditEntry.objects.get(action=AuditAction.INVITE_RIGHTS_GRANTED)
    assert (entry.actor, entry.target_member) == (moderator, member)
    assert entry.details["reason"] == "Known organiser"
    assert entry.details["ends_at"] == grant.ends_at.isoformat()  # type: ignore[union-attr]
    clock.advance(days=10)
    assert not evaluate_invite_rights(member).can_invite  # lapsed by itself


def test_withdrawing_a_grant_is_audited_and_a_grant_needs_a_reason(
    clock: FrozenClock, founder: Member
) -> None:
    member = make_member(joined_at=clock.current - 8 * DAY)
    with pytest.raises(ActionError) as no_reason:
        do_grant_invite_rights(member=member, moderator=founder, reason="   ")
    assert no_reason.value.code == "reason_required"
    with pytest.raises(ActionError) as past:
        do_grant_invite_rights(
            member=member, moderator=founder, reason="ok", ends_at=clock.current - DAY
        )
    assert past.value.code == "ends_at_in_past"
    grant = do_grant_invite_rights(member=member, moderator=founder, reason="Vouched by staff")
    assert evaluate_invite_rights(member).can_invite
    do_withdraw_invite_rights_grant(grant_id=grant.id, moderator=founder, reason="Misused")
    assert not evaluate_invite_rights(member).can_invite
    entry = AuditEntry.objects.get(action=AuditAction.INVITE_RIGHTS_GRANT_WITHDRAWN)
    assert (entry.actor, entry.target_member, entry.details["reason"]) == (
        founder, member, "Misused",
    )
    # The member is told, in their language, why they may no longer invite.
    with translation.override("ru"):
        notice = recent_notifications(member)[0]
    assert notice.kind == NotificationKind.INVITE_RIGHTS_GRANT_WITHDRAWN
    assert notice.text.startswith(
        "Модератор отозвал выданное вам право приглашать: Misused.")
    with pytest.raises(ActionError) as twice:
        do_withdraw_invite_rights_grant(grant_id=grant.id, moderator=founder, reason="again")
    assert twice.value.status == 409


def test_members_cannot_grant_and_moderators_cannot_act_on_each_other(
    clock: FrozenClock,
) -> None:
    member = make_member()
    other = make_member()
    moderator = make_member(role=Member.Role.MODERATOR)
    colleague = make_member(role=Member.Role.MODERATOR)
    with pytest.raises(ActionError) as refused:
        do_grant_invite_rights(member=other, moderator=member, reason="friend")
    assert refused.value.code == "not_a_moderator"
    with pytest.raises(ActionError) as peer:
        do_grant_invite_rights(member=colleague, moderator=moderator, reason="friend")
    assert peer.value.code == "cannot_moderate"
    assert not AuditEntry.objects.filter(action=AuditAction.INVITE_RIGHTS_GRANTED).exists()


def invitation_check_ids() -> list[str]:
    return sorted(
        message.id for message in checks.run_checks()
        if message.id and message.id.startswith("invitations.")
    )


def test_nonsense_thresholds_stop_the_site_at_start() -> None:
    assert invitation_check_ids() == []
    with override_settings(
        INVITE_ALLOWANCE_PERIOD_DAYS=0,
        INVITE_INVITEES_MAX_BAD_SHARE=1.5,
        INVITE_TRUST_SCORE_PROVIDER="tests.no_such_module.score",
    ):
        ids = invitation_check_ids()
    assert ids == ["invitations.E001", "invitations.E002", "invitations.E003"]


def test_an_allowance_saved_up_beyond_a_century_stops_the_site_at_start(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    # "As good as no cap" must be refused at start: spending reads back
    # MAX_UNUSED periods, and a million weeks is before year 1 (every send a 500).
    with override_settings(INVITE_ALLOWANCE_MAX_UNUSED=1_000_000):
        assert invitation_check_ids() == ["invitations.E004"]
    with override_settings(INVITE_ALLOWANCE_MAX_UNUSED=36_500 // 7, INVITE_ALLOWANCE_PERIOD_DAYS=7):
        assert invitation_check_ids() == []
        # The largest allowance the check lets through works.
        member = make_member(joined_at=clock() - timedelta(days=100))
        invitation = do_invite_by_phone(inviter=member, phone="+79161234567")
        assert invitation.spent_allowance
        assert allowance_of(member, moment=clock()).available == 13
