"""Sanctions on single members and accountability: warn, quarantine, ban, lift;
a ban for spam kills the banned member's invitations and strikes their inviter;
strikes suspend the inviter's rights, and the suspension lapses by itself."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver
from django.utils import translation

from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.actions import do_grant_invite_rights, do_invite_by_phone
from inviteonly.invitations.allowance import allowance_of, sweep_expired_refunds
from inviteonly.invitations.branch_actions import BranchAction, preview_branch_action
from inviteonly.invitations.models import Invitation, InvitationState, InviteRightsGrant
from inviteonly.invitations.queries import access_invitation_by_token
from inviteonly.invitations.rights import RuleResult, RuleState, evaluate_invite_rights
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.actions import (
    do_ban_member,
    do_change_role,
    do_lift_sanction,
    do_quarantine_member,
    do_report_item,
    do_resolve_reports,
    do_set_status_as_operator,
    do_suspend_invite_rights,
    do_warn_member,
)
from inviteonly.moderation.models import Report, Sanction, SanctionKind, Strike
from inviteonly.notifications.models import Notification, NotificationKind
from inviteonly.notifications.queries import recent_notifications
from inviteonly.social.models import WallPost
from tests.conftest import PASSWORD, ApiClient, FrozenClock, SmsOutbox, make_member
from tests.social_helpers import member_with_api

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def moderator(db: None) -> Member:
    return make_member(role=Member.Role.MODERATOR, display_name="Mod Vera")


def veteran(*, display_name: str = "Member", invited_by: Member | None = None,
            language: str = "en") -> Member:
    return make_member(
        joined_at=clock.now() - 400 * DAY, display_name=display_name, invited_by=invited_by,
        language=language,
    )


def suspension_rule(member: Member) -> RuleResult:
    return next(r for r in evaluate_invite_rights(member).rules if r.rule == "suspension")


def test_each_sanction_sets_status_and_writes_an_audit_entry(moderator: Member) -> None:
    member = veteran()
    warning = do_warn_member(member=member, moderator=moderator, reason="Tone")
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    assert warning.ends_at == warning.created_at  # over when given, kept on the record
    do_quarantine_member(member=member, moderator=moderator, reason="Link spam", for_spam=True)
    member.refresh_from_db()
    assert member.status == Member.Status.QUARANTINED
    do_ban_member(member=member, moderator=moderator, reason="Link spam", for_spam=True)
    member.refresh_from_db()
    assert member.status == Member.Status.BANNED
    actions = list(
        AuditEntry.objects.filter(target_member=member).order_by("id").values_list(
            "action", flat=True
        )
    )
    assert actions == [
        AuditAction.MEMBER_WARNED, AuditAction.MEMBER_QUARANTINED, AuditAction.MEMBER_BANNED,
    ]
    ban_entry = AuditEntry.objects.get(action=AuditAction.MEMBER_BANNED)
    assert ban_entry.actor == moderator
    assert ban_entry.details["for_spam"] is True and ban_entry.details["reason"] == "Link spam"


def test_lifting_a_ban_leaves_a_quarantine_in_force(moderator: Member) -> None:
    member = veteran()
    do_quarantine_member(member=member, moderator=moderator, reason="Suspicious")
    ban = do_ban_member(member=member, moderator=moderator, reason="Spam")
    do_lift_sanction(sanction_id=ban.id, moderator=moderator, reason="Appeal accepted")
    member.refresh_from_db()
    assert member.status == Member.Status.QUARANTINED
    ban.refresh_from_db()
    assert ban.upheld is False and ban.ended_by == moderator
    with pytest.raises(ActionError) as twice:
        do_lift_sanction(sanction_id=ban.id, moderator=moderator, reason="again")
    assert twice.value.code == "sanction_already_ended"
    entry = AuditEntry.objects.get(action=AuditAction.SANCTION_LIFTED)
    assert entry.details == {
        "sanction": ban.id, "kind": "ban", "reason": "Appeal accepted", "upheld": False,
    }


def test_a_refused_sanction_changes_nothing(moderator: Member) -> None:
    member = veteran()
    with pytest.raises(ActionError) as no_reason:
        do_ban_member(member=member, moderator=moderator, reason="")
    assert no_reason.value.code == "reason_required"
    with pytest.raises(ActionError) as too_long:
        do_ban_member(member=member, moderator=moderator, reason="x" * 501)
    assert too_long.value.code == "reason_too_long"
    with pytest.raises(ActionError) as not_moderator:
        do_quarantine_member(member=moderator, moderator=member, reason="revenge")
    assert not_moderator.value.code == "not_a_moderator"
    member.refresh_from_db()
    moderator.refresh_from_db()
    assert member.status == moderator.status == Member.Status.ACTIVE
    assert not Sanction.objects.exists() and not AuditEntry.objects.exists()


def test_a_ban_for_spam_kills_invitations_notifies_and_strikes_the_inviter(
    clock: FrozenClock, moderator: Member, sms_outbox: SmsOutbox
) -> None:
    inviter = veteran(display_name="Inviter Oleg", language="en")
    spammer = veteran(display_name="Spammer", invited_by=inviter)
    pending = do_invite_by_phone(inviter=spammer, phone="+79163330001")
    spent_before = allowance_of(spammer, moment=clock.current).available

    ban = do_ban_member(
        member=spammer, moderator=moderator, reason="Casino links in messages", for_spam=True
    )
    pending.refresh_from_db()
    assert pending.state == InvitationState.REVOKED
    assert pending.allowance_refunded_at is None  # no refund for a banned member
    assert allowance_of(spammer, moment=clock.current).available == spent_before
    strike = Strike.objects.get()
    assert (strike.member, strike.invitee) == (inviter, spammer)
    assert ban.kind == SanctionKind.BAN and ban.for_spam
    notification = Notification.objects.get(member=inviter)
    assert notification.kind == NotificationKind.INVITEE_BANNED
    text = recent_notifications(inviter)[0].text
    assert "Spammer" in text and "Casino links in messages" in text
    with translation.override("ru"):
        assert "Casino links in messages" in recent_notifications(inviter)[0].text
        assert "спам" in recent_notifications(inviter)[0].text
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {AuditAction.INVITATIONS_REVOKED_BY_BAN, AuditAction.STRIKE_RECORDED} <= actions
    # One strike is not enough to suspend (the default needs two).
    assert suspension_rule(inviter).state == RuleState.PASSED


def test_a_ban_not_for_spam_strikes_nobody(moderator: Member) -> None:
    inviter = veteran()
    rude = veteran(invited_by=inviter)
    do_ban_member(member=rude, moderator=moderator, reason="Harassment")
    assert not Strike.objects.exists() and not Notification.objects.exists()


def test_strikes_suspend_the_inviter_and_the_suspension_lapses(
    clock: FrozenClock, moderator: Member
) -> None:
    inviter = veteran()
    first, second = veteran(invited_by=inviter), veteran(invited_by=inviter)
    do_ban_member(member=first, moderator=moderator, reason="Spam", for_spam=True)
    clock.advance(days=30)
    do_ban_member(member=second, moderator=moderator, reason="Spam", for_spam=True)

    suspension = Sanction.objects.get(member=inviter, kind=SanctionKind.INVITE_SUSPENSION)
    assert suspension.moderator is None
    assert suspension.ends_at == clock.current + 60 * DAY
    rule = suspension_rule(inviter)
    assert rule.state == RuleState.FAILED and rule.passes_at == suspension.ends_at
    assert "banned for spam" in rule.reason
    with pytest.raises(ActionError) as refused:
        do_invite_by_phone(inviter=inviter, phone="+79163330002")
    assert refused.value.code == "invite_not_allowed"
    assert NotificationKind.INVITE_RIGHTS_SUSPENDED in set(
        Notification.objects.filter(member=inviter).values_list("kind", flat=True)
    )
    assert AuditEntry.objects.filter(
        action=AuditAction.INVITE_RIGHTS_SUSPENDED, target_member=inviter, actor=None
    ).exists()
    # The strike rule's own suspension is not a sanction on the inviter's record.
    sanctions = next(r for r in evaluate_invite_rights(inviter).rules if r.rule == "sanctions")
    assert sanctions.state == RuleState.PASSED

    clock.advance(days=60)
    assert suspension_rule(inviter).state == RuleState.PASSED
    do_invite_by_phone(inviter=inviter, phone="+79163330002")


def test_strikes_outside_the_window_do_not_add_up(
    clock: FrozenClock, moderator: Member
) -> None:
    inviter = veteran()
    first, second = veteran(invited_by=inviter), veteran(invited_by=inviter)
    do_ban_member(member=first, moderator=moderator, reason="Spam", for_spam=True)
    clock.advance(days=181)
    do_ban_member(member=second, moderator=moderator, reason="Spam", for_spam=True)
    assert Strike.objects.filter(member=inviter).count() == 2
    assert not Sanction.objects.filter(member=inviter).exists()


def test_a_moderator_suspension_needs_no_end_date_and_beats_a_grant(
    clock: FrozenClock, moderator: Member
) -> None:
    member = veteran()
    do_grant_invite_rights(member=member, moderator=moderator, reason="Trusted")
    suspension = do_suspend_invite_rights(
        member=member, moderator=moderator, reason="Selling invitations"
    )
    rule = suspension_rule(member)
    assert rule.state == RuleState.FAILED and rule.passes_at is None
    assert "Selling invitations" in rule.reason
    clock.advance(days=1000)
    assert suspension_rule(member).state == RuleState.FAILED
    do_lift_sanction(
        sanction_id=suspension.id, moderator=moderator, reason="Served enough", upheld=True
    )
    assert suspension_rule(member).state == RuleState.PASSED
    suspension.refresh_from_db()
    assert suspension.upheld and suspension.ended_at == clock.current
    entry = AuditEntry.objects.get(action=AuditAction.INVITE_RIGHTS_SUSPENDED)
    assert (entry.actor, entry.target_member) == (moderator, member)


def test_invitations_of_a_banned_member_cannot_be_redeemed(
    moderator: Member, sms_outbox: SmsOutbox
) -> None:
    member = veteran()
    do_invite_by_phone(inviter=member, phone="+79163330003")
    token = sms_outbox.join_token_for("+79163330003")
    do_ban_member(member=member, moderator=moderator, reason="Spam", for_spam=True)
    with pytest.raises(ActionError) as refused:
        access_invitation_by_token(token)
    assert refused.value.code == "invitation_revoked"
    assert Invitation.objects.get().revoked_at is not None


# --- the moderator's pages ----------------------------------------------------------


def page_client(phone: str) -> Client:
    client = Client()
    response = client.post("/login/", {"phone": phone, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def test_moderator_page_quarantines_reviews_and_grants(
    clock: FrozenClock, founder: Member
) -> None:
    member = make_member(phone="+79163330010", joined_at=clock.current - 8 * DAY,
                         display_name="Petr")
    client = page_client("+79160000001")
    url = f"/moderation/members/{member.id}/"
    page = client.get(url).content.decode()
    assert 'data-rule="account_age" data-state="failed"' in page

    missing_reason = client.post(url, {"decision": "quarantine", "reason": ""})
    assert missing_reason.status_code == 200
    assert not Sanction.objects.exists()

    client.post(url, {"decision": "quarantine", "reason": "Mass messages"})
    member.refresh_from_db()
    assert member.status == Member.Status.QUARANTINED
    cases = client.get("/moderation/").content.decode()
    assert "Petr" in cases and "Mass messages" in cases

    sanction = Sanction.objects.get()
    ended = client.post(
        f"/moderation/sanctions/{sanction.id}/end/", {"reason": "Reviewed, legitimate"},
        follow=True,
    ).content.decode()
    assert "The sanction has ended." in ended
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    assert "Nobody is waiting for review." in client.get("/moderation/").content.decode()

    client.post(url, {"decision": "grant_invites", "reason": "Local organiser",
                      "ends_on": (clock.current + 30 * DAY).date().isoformat()})
    assert evaluate_invite_rights(member).can_invite
    grant = InviteRightsGrant.objects.get()
    client.post(f"/moderation/grants/{grant.id}/withdraw/", {"reason": "Done"})
    assert not evaluate_invite_rights(member).can_invite
    assert list(
        AuditEntry.objects.filter(actor=founder, target_member=member)
        .order_by("id").values_list("action", flat=True)
    ) == [
        AuditAction.MEMBER_QUARANTINED, AuditAction.SANCTION_LIFTED,
        AuditAction.INVITE_RIGHTS_GRANTED, AuditAction.INVITE_RIGHTS_GRANT_WITHDRAWN,
    ]


@pytest.mark.parametrize("decision", ["warn", "quarantine", "ban"])
def test_an_end_date_with_a_sanction_that_has_none_is_refused_on_the_page(
    clock: FrozenClock, founder: Member, decision: str
) -> None:
    """Only suspensions and grants end by a date; a week's ban would otherwise be
    recorded without end."""
    member = make_member(phone="+79163330011", display_name="Troll")
    url = f"/moderation/members/{member.id}/"
    week_later = (clock.current + 7 * DAY).date().isoformat()
    for language, refusal in (
        ("en", "Only a suspension or a grant of invite rights can have an end date."),
        ("ru", "Дата окончания бывает только у приостановки или выдачи права приглашать."),
    ):
        client = page_client("+79160000001")
        client.post("/language/", {"language": language, "next": "/"})
        response = client.post(
            url, {"decision": decision, "reason": "One week off", "ends_on": week_later}
        )
        assert response.status_code == 200
        assert refusal in response.content.decode()
    assert not Sanction.objects.exists()
    assert not AuditEntry.objects.filter(target_member=member).exists()
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


def test_only_administrators_change_roles_and_statuses_and_never_their_own(
    founder: Member, moderator: Member
) -> None:
    member = veteran()
    for operator, target, code in (
        (moderator, member, "not_an_operator"), (founder, founder, "own_standing"),
    ):
        with pytest.raises(ActionError) as refused:
            do_change_role(member=target, operator=operator, role="moderator", reason="Why")
        assert (refused.value.code, refused.value.status) == (code, 403)
        with pytest.raises(ActionError) as refused:
            do_set_status_as_operator(member=target, operator=operator, status="banned",
                                      reason="Why")
        assert (refused.value.code, refused.value.status) == (code, 403)
    with pytest.raises(ActionError) as refused:
        do_set_status_as_operator(member=member, operator=founder, status="deleted",
                                  reason="Why")
    assert refused.value.code == "invalid_status"
    member.refresh_from_db()
    assert (member.role, member.status) == (Member.Role.MEMBER, Member.Status.ACTIVE)
    assert not AuditEntry.objects.exists() and not Sanction.objects.exists()


def test_a_quarantined_founder_acts_as_operator_on_nobody(founder: Member) -> None:
    """Another founder quarantined them (a suspected takeover, say): until it is lifted
    they can neither hit back nor promote anyone, and the admin is read-only to them."""
    second = make_member(phone="+79160000002", role=Member.Role.FOUNDER)
    do_set_status_as_operator(member=second, operator=founder, status="quarantined",
                              reason="Account taken over?")
    second.refresh_from_db()
    member = veteran()
    for attempt in (
        partial(do_set_status_as_operator, member=founder, status="banned"),
        partial(do_change_role, member=member, role="founder"),
    ):
        with pytest.raises(ActionError) as refused:
            attempt(operator=second, reason="Revenge")
        assert refused.value.code == "not_an_operator"
    admin = Client()
    admin.force_login(second)
    page = admin.get(f"/admin/accounts/member/{member.id}/change/").content.decode()
    assert 'name="status"' not in page and 'name="role"' not in page
    founder.refresh_from_db()
    member.refresh_from_db()
    assert (founder.status, member.role) == ("active", "member")


def test_an_operator_setting_a_status_moves_between_the_sanctions_that_call_for_it(
    founder: Member, moderator: Member
) -> None:
    """Banned → quarantined ends the ban (kept on the record) and quarantines; a status
    asked for again changes nothing."""
    member = veteran()
    do_ban_member(member=member, moderator=moderator, reason="Spam")
    do_set_status_as_operator(member=member, operator=founder, status="quarantined",
                              reason="Under review")
    do_set_status_as_operator(member=member, operator=founder, status="quarantined",
                              reason="Under review")
    member.refresh_from_db()
    assert member.status == Member.Status.QUARANTINED
    assert sorted(
        Sanction.objects.filter(member=member).values_list("kind", "upheld", "ended_by")
    ) == [("ban", True, founder.pk), ("quarantine", True, None)]


@pytest.mark.parametrize("legacy", [Member.Status.BANNED, Member.Status.QUARANTINED])
def test_an_operator_lifting_a_status_no_sanction_called_for_audits_it(
    founder: Member, legacy: str
) -> None:
    """A status written straight to the row (as the admin did before it went through
    the action) has no sanction to end: the change is audited on its own."""
    member = veteran()
    Member.objects.filter(id=member.id).update(status=legacy)
    do_set_status_as_operator(member=member, operator=founder, status="active",
                              reason="Set by mistake", ip_address="203.0.113.9")
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    entry = AuditEntry.objects.get(target_member=member)
    assert (entry.action, entry.actor_id, entry.ip_address) == (
        AuditAction.STATUS_CHANGED, founder.pk, "203.0.113.9")
    assert entry.details == {
        "status": "active", "previous_status": legacy, "reason": "Set by mistake"}


@pytest.mark.parametrize(("decision", "made", "audited", "notices"), [
    # Two bans in force would need two lifts; a ban lifted as a mistake would leave the
    # member banned.
    ("ban", lambda member: Sanction.objects.filter(member=member, kind=SanctionKind.BAN),
     AuditAction.MEMBER_BANNED, 0),  # a banned member cannot log in to read one
    # Two grants would need two withdrawals: a member whose grant the moderator withdrew
    # could still invite.
    ("grant_invites", lambda member: InviteRightsGrant.objects.filter(member=member),
     AuditAction.INVITE_RIGHTS_GRANTED, 1),
])
def test_a_decision_sent_twice_is_made_once(
    clock: FrozenClock, founder: Member, decision: str, made: Any, audited: str,
    notices: int,
) -> None:
    """A double click."""
    member = make_member(phone="+79163330011", display_name="Bob", invited_by=founder)
    client = page_client("+79160000001")
    url = f"/moderation/members/{member.id}/"
    form = {"decision": decision, "reason": "Spam bot"}
    client.post(url, form)
    again = client.post(url, form, follow=True).content.decode()
    assert "This decision was just recorded; it was not made a second time." in again
    assert made(member).count() == 1
    assert AuditEntry.objects.filter(action=audited).count() == 1
    assert Notification.objects.filter(member=member).count() == notices
    # Another reason, or the same one later, is another decision.
    client.post(url, {"decision": decision, "reason": "Spam bot, again"})
    clock.advance(seconds=61)
    client.post(url, form)
    assert made(member).count() == 3


def test_the_same_decision_again_at_once_when_it_is_another_decision(
    clock: FrozenClock, moderator: Member
) -> None:
    """Not a form sent twice: the same warning for two reported posts, one after the
    other in the queue; a suspension lifted as a mistake and imposed again."""
    author, reporter = make_member(display_name="Author"), make_member()
    posts = [WallPost.objects.create(wall_owner=author, author=author, text=text)
             for text in ("rude one", "rude two")]
    for post in posts:
        do_report_item(reporter=reporter, target_kind="wall_post", target_id=post.id,
                       reason="abuse")
    for post in posts:
        do_resolve_reports(moderator=moderator, target_kind="wall_post", target_id=post.id,
                           decision="warn", reason="Insults")
    assert not Report.objects.filter(resolved_at__isnull=True).exists()
    assert Sanction.objects.filter(member=author, kind=SanctionKind.WARN).count() == 2
    member = make_member(display_name="Bob")
    wrong = do_suspend_invite_rights(member=member, moderator=moderator,
                                     reason="Invited spammers", ends_at=clock() + DAY)
    do_lift_sanction(sanction_id=wrong.id, moderator=moderator, reason="Wrong end date")
    do_suspend_invite_rights(member=member, moderator=moderator, reason="Invited spammers",
                             ends_at=clock() + DAY)
    assert Sanction.objects.filter(member=member, ended_at__isnull=True).count() == 1


def test_open_cases_past_the_page_say_how_many_wait(
    founder: Member, moderator: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inviteonly.moderation import views

    monkeypatch.setattr(views, "OPEN_CASES_LIMIT", 2)
    client = page_client("+79160000001")
    do_quarantine_member(member=veteran(display_name="First"), moderator=moderator,
                         reason="Spam")
    do_quarantine_member(member=veteran(display_name="Second"), moderator=moderator,
                         reason="Spam")
    page = client.get("/moderation/").content.decode()
    assert "First" in page and "Second" in page and "open-cases-count" not in page
    do_quarantine_member(member=veteran(display_name="Third"), moderator=moderator,
                         reason="Spam")
    page = client.get("/moderation/").content.decode()
    assert "Third" not in page
    assert "The oldest 2 of 3 are shown" in page
    client.post("/language/", {"language": "ru", "next": "/"})
    assert "Показаны самые давние: 2 из 3." in client.get("/moderation/").content.decode()


def test_open_cases_list_only_quarantines_the_viewer_may_end(
    founder: Member, moderator: Member
) -> None:
    """As in the report queue, a moderator's list holds only cases they may decide: a
    fellow moderator's quarantine (a founder's case) is neither listed nor counted
    there, nor its reason shown."""
    do_quarantine_member(member=veteran(display_name="Plain Petr"), moderator=founder,
                         reason="Mass messages")
    peer = make_member(role=Member.Role.MODERATOR, display_name="Peer Pavel")
    do_quarantine_member(member=peer, moderator=founder, reason="Abused the queue")
    seen_by_moderator = Client()
    seen_by_moderator.force_login(moderator)
    page = seen_by_moderator.get("/moderation/").content.decode()
    assert "Plain Petr" in page and "Mass messages" in page
    assert "Peer Pavel" not in page and "Abused the queue" not in page
    seen_by_founder = Client()
    seen_by_founder.force_login(founder)
    page = seen_by_founder.get("/moderation/").content.decode()
    assert "Plain Petr" in page and "Peer Pavel" in page


def test_moderation_pages_are_for_moderators_only(founder: Member) -> None:
    make_member(phone="+79163330011")
    client = page_client("+79163330011")
    assert client.get("/moderation/").status_code == 403
    assert client.get(f"/moderation/members/{founder.id}/").status_code == 403
    assert client.post(
        f"/moderation/members/{founder.id}/", {"decision": "ban", "reason": "x"}
    ).status_code == 403
    assert not Sanction.objects.exists()
    assert Client().get("/moderation/").status_code == 302  # to the login page


def test_the_member_is_told_of_each_decision_in_their_language(
    clock: FrozenClock, moderator: Member
) -> None:
    member = veteran(language="ru")
    do_warn_member(member=member, moderator=moderator, reason="Тон")
    quarantine = do_quarantine_member(member=member, moderator=moderator, reason="Ссылки")
    do_lift_sanction(sanction_id=quarantine.id, moderator=moderator, reason="Проверено")
    do_suspend_invite_rights(
        member=member, moderator=moderator, reason="Продажа", ends_at=clock.current + 3 * DAY
    )
    do_grant_invite_rights(member=member, moderator=moderator, reason="Организатор")
    with translation.override("ru"):
        texts = [notice.text for notice in reversed(recent_notifications(member))]
    assert texts[0] == "Модератор вынес вам предупреждение: Тон."
    assert texts[1].startswith("Модератор поместил ваш аккаунт на карантин")
    assert texts[2] == "Модератор снял санкцию с вашего аккаунта: Проверено."
    assert texts[3].startswith("Модератор приостановил ваше право приглашать: Продажа. До ")
    assert texts[4] == "Модератор разрешил вам приглашать: Организатор."


def test_a_member_whose_role_changed_is_told_why_in_their_language(founder: Member) -> None:
    member = veteran(language="ru")
    do_change_role(member=member, operator=founder, role="moderator", reason="Ведёт группу")
    do_change_role(member=member, operator=founder, role="moderator", reason="Again")
    do_change_role(member=member, operator=founder, role="founder", reason="Сооснователь")
    do_change_role(member=member, operator=founder, role="member", reason="Ушёл на покой")
    assert list(
        Notification.objects.filter(member=member).order_by("id").values_list("kind", flat=True)
    ) == [NotificationKind.ROLE_MODERATOR, NotificationKind.ROLE_FOUNDER,
          NotificationKind.ROLE_MEMBER]  # no notice for a role they already had
    with translation.override("ru"):
        texts = [notice.text for notice in reversed(recent_notifications(member))]
    assert texts[0].startswith("Администратор сделал вас модератором: Ведёт группу.")
    assert texts[1].startswith("Администратор сделал вас основателем: Сооснователь.")
    assert texts[2].startswith("Администратор снова сделал вас участником: Ушёл на покой.")
    with translation.override("en"):
        text = recent_notifications(member)[0].text
    assert text.startswith("An administrator made you a member again: Ушёл на покой.")


# --- nothing for members: every moderation route refuses before it looks anything up --

# A value for each parameter of a moderation route, for a record that exists (filled in
# by the test) and for one that does not; the kind of a reported item and of a branch
# action are the same in both.
MISSING_ID = 10**9
FIXED_PARAMETERS = {"target_kind": "wall_post", "action": "ban"}
# Bodies sent to every POST: empty, an invalid form (no reason), and ones a moderator's
# request would pass validation with (of the pages' forms and of the API's schemas).
POST_BODIES: list[dict[str, str]] = [
    {},
    {"reason": ""},
    {"decision": "ban", "reason": "x", "upheld": "on"},
    {"decision": "grant", "reason": "x", "digest": "x"},
    {"decision": "dismiss", "reason": "x", "digest": "x"},
]


def _fill(route: str, values: dict[str, int | str]) -> str:
    """A route (``moderation/sanctions/<id:sanction_id>/end/`` or
    ``/api/members/{member_id}/invite-rights``) with its parameters filled in."""
    return re.sub(r"<(?:\w+:)?(\w+)>|\{(\w+)\}",
                  lambda found: str(values[found.group(1) or found.group(2)]), route)


def _moderation_pages() -> list[str]:
    return [
        f"/{pattern.pattern}" for pattern in get_resolver().url_patterns
        if isinstance(pattern, URLPattern) and str(pattern.pattern).startswith("moderation/")
    ]


def _moderation_api() -> list[tuple[str, str]]:
    """(method, path) of every API operation for moderators: under /api/moderation/ or
    summarised as for moderators."""
    from inviteonly.api import api

    return [
        (method.upper(), path)
        for path, operations in api.get_openapi_schema()["paths"].items()
        for method, operation in operations.items()
        if path.startswith("/api/moderation/") or "moderators" in operation["summary"].lower()
    ]


def _answer(response: Any) -> tuple[int, str | None]:
    return response.status_code, response.get("Location")


def test_every_moderation_route_refuses_members_alike_for_existing_and_missing_ids(
    moderator: Member,
) -> None:
    victim = veteran(display_name="Warned Walter")
    sanction = do_warn_member(member=victim, moderator=moderator, reason="private reason")
    grant = do_grant_invite_rights(member=victim, moderator=moderator, reason="private")
    post = WallPost.objects.create(wall_owner=victim, author=victim, text="reported")
    do_report_item(reporter=veteran(), target_kind="wall_post", target_id=post.id,
                   reason="spam")
    existing: dict[str, int | str] = {
        "member_id": victim.id, "sanction_id": sanction.id, "grant_id": grant.id,
        "target_id": post.id, **FIXED_PARAMETERS,
    }
    missing: dict[str, int | str] = {
        **{name: MISSING_ID for name in existing}, **FIXED_PARAMETERS,
    }
    nosy, api = member_with_api("Nosy Nick")
    pages = Client()
    pages.force_login(nosy)

    routes = _moderation_pages()
    assert {"/moderation/sanctions/<id:sanction_id>/end/",
            "/moderation/grants/<id:grant_id>/withdraw/"} <= set(routes)
    for route in routes:
        requests: list[tuple[str, dict[str, str] | None]] = [
            ("GET", None), *(("POST", body) for body in POST_BODIES)]
        for method, body in requests:
            answers = [
                _answer(pages.get(_fill(route, values)) if method == "GET"
                        else pages.post(_fill(route, values), body))
                for values in (existing, missing)
            ]
            assert answers[0] == answers[1], (route, method, body, answers)
            status, location = answers[0]
            assert status in (403, 404, 405) and location is None, (route, method, body)

    operations = _moderation_api()
    assert ("POST", "/api/moderation/reports/{target_kind}/{target_id}/resolve") in operations
    for method, route in operations:
        for body in (None,) if method == "GET" else POST_BODIES:
            bodies = [
                api.request(method, _fill(route, values).removeprefix("/api"), body)
                for values in (existing, missing)
            ]
            assert bodies[0].status_code == bodies[1].status_code, (route, body)
            assert bodies[0].json_body == bodies[1].json_body, (route, body)
            assert bodies[0].status_code in (403, 404, 422), (route, body)

    victim.refresh_from_db()
    sanction.refresh_from_db()
    grant.refresh_from_db()
    assert victim.status == Member.Status.ACTIVE and sanction.upheld
    assert sanction.ended_by is None and grant.withdrawn_at is None
    assert Report.objects.get().resolved_at is None
    assert WallPost.objects.filter(id=post.id).exists()


# --- strikes: the rank rule and mistaken bans ---------------------------------------


def test_no_strike_for_an_inviter_the_moderator_may_not_act_on(
    founder: Member, moderator: Member
) -> None:
    other_moderator = make_member(role=Member.Role.MODERATOR, display_name="Mod Ivan")
    # Moderators act on members only: banning invitees of a founder, of another
    # moderator or of oneself strikes nobody and suspends nobody; the others are told.
    for inviter in (founder, other_moderator, moderator):
        for _ in range(2):
            do_ban_member(
                member=veteran(invited_by=inviter), moderator=moderator, reason="Spam",
                for_spam=True,
            )
    assert not Strike.objects.exists()
    assert not Sanction.objects.filter(kind=SanctionKind.INVITE_SUSPENSION).exists()
    told = Notification.objects.filter(kind=NotificationKind.INVITEE_BANNED_NO_STRIKE)
    assert sorted(told.values_list("member_id", flat=True)) == sorted(
        [founder.pk, founder.pk, other_moderator.pk, other_moderator.pk]
    )
    assert Notification.objects.count() == 4
    assert evaluate_invite_rights(founder).can_invite
    # A founder acts on moderators: their bans for spam strike a moderator who invited.
    for _ in range(2):
        do_ban_member(
            member=veteran(invited_by=other_moderator), moderator=founder, reason="Spam",
            for_spam=True,
        )
    assert Strike.objects.filter(member=other_moderator).count() == 2
    assert suspension_rule(other_moderator).state == RuleState.FAILED


def test_an_inviter_who_gets_no_strike_is_told_the_ban_without_a_strike(
    founder: Member, moderator: Member
) -> None:
    spammer = veteran(display_name="Spammer", invited_by=founder)
    do_ban_member(member=spammer, moderator=moderator, reason="Casino links", for_spam=True)
    assert not Strike.objects.filter(member=founder).exists()
    (notice,) = recent_notifications(founder)
    assert "Spammer" in notice.text and "Casino links" in notice.text
    assert "strike" not in notice.text
    with translation.override("ru"):
        (notice,) = recent_notifications(founder)
    assert "Casino links" in notice.text and "спам" in notice.text
    assert "штраф" not in notice.text


def test_a_ban_lifted_as_a_mistake_takes_back_its_strike(
    clock: FrozenClock, moderator: Member
) -> None:
    inviter = veteran(display_name="Inviter")
    wrongly, spammer = veteran(invited_by=inviter), veteran(invited_by=inviter)
    ban = do_ban_member(member=wrongly, moderator=moderator, reason="Spam?", for_spam=True)
    do_lift_sanction(sanction_id=ban.id, moderator=moderator, reason="Mistaken identity")
    strike = Strike.objects.get(invitee=wrongly)
    assert strike.withdrawn_at == clock.current
    withdrawn = AuditEntry.objects.get(action=AuditAction.STRIKE_WITHDRAWN)
    assert (withdrawn.actor, withdrawn.target_member) == (moderator, inviter)
    assert withdrawn.details == {"reason": "Mistaken identity", "strikes": 0}
    clock.advance(days=1)
    do_ban_member(member=spammer, moderator=moderator, reason="Spam", for_spam=True)
    # One strike counts: not enough to suspend.
    assert suspension_rule(inviter).state == RuleState.PASSED
    # Banned for spam again, for real this time: the strike counts again, from now.
    clock.advance(days=1)
    do_ban_member(member=wrongly, moderator=moderator, reason="Spam after all", for_spam=True)
    strike.refresh_from_db()
    assert (strike.withdrawn_at, strike.created_at, strike.reason) == (
        None, clock.current, "Spam after all"
    )
    assert suspension_rule(inviter).state == RuleState.FAILED


def test_a_strike_suspension_ends_when_a_ban_behind_it_was_a_mistake(
    clock: FrozenClock, moderator: Member
) -> None:
    inviter = veteran(display_name="Inviter", language="ru")
    first, second = veteran(invited_by=inviter), veteran(invited_by=inviter)
    first_ban = do_ban_member(member=first, moderator=moderator, reason="Spam", for_spam=True)
    clock.advance(days=1)
    second_ban = do_ban_member(member=second, moderator=moderator, reason="Spam", for_spam=True)
    suspension = Sanction.objects.get(member=inviter, kind=SanctionKind.INVITE_SUSPENSION)
    assert suspension_rule(inviter).state == RuleState.FAILED
    clock.advance(days=1)
    # Ending a ban as deserved keeps its strike and the suspension.
    do_lift_sanction(
        sanction_id=first_ban.id, moderator=moderator, reason="Served", upheld=True
    )
    assert suspension_rule(inviter).state == RuleState.FAILED
    # Declaring the other a mistake leaves one strike: the suspension ends, as a
    # moderator ending it as a mistake would end it, and the inviter is told.
    do_lift_sanction(sanction_id=second_ban.id, moderator=moderator, reason="Wrong person")
    suspension.refresh_from_db()
    assert (suspension.ended_at, suspension.ended_by, suspension.end_reason, suspension.upheld) == (
        clock.current, moderator, "Wrong person", False
    )
    assert suspension_rule(inviter).state == RuleState.PASSED
    assert AuditEntry.objects.get(
        action=AuditAction.SANCTION_LIFTED, target_member=inviter
    ).details == {
        "sanction": suspension.id, "kind": "invite_suspension", "reason": "Wrong person",
        "upheld": False,
    }
    with translation.override("ru"):
        assert recent_notifications(inviter)[0].text == (
            "Модератор снял санкцию с вашего аккаунта: Wrong person."
        )
    # The moderator's page says which strike no longer counts.
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    client.force_login(moderator)
    page = client.get(f"/moderation/members/{inviter.id}/").content.decode()
    assert page.count("не засчитывается: блокировку признали ошибкой") == 1


@pytest.mark.parametrize(
    ("language", "shown"),
    [
        ("en", "Invitees banned for spam: too many strikes."),
        ("ru", "Приглашённые заблокированы за спам: слишком много штрафных баллов."),
    ],
)
def test_the_strike_rule_reason_is_shown_in_the_reader_language(
    moderator: Member, language: str, shown: str
) -> None:
    inviter = veteran(display_name="Inviter")
    for _ in range(2):
        do_ban_member(
            member=veteran(invited_by=inviter), moderator=moderator, reason="Spam",
            for_spam=True,
        )
    # A suspension the strike rule imposed before its reason was translated reads the same.
    earlier = veteran(display_name="Earlier")
    Sanction.objects.create(
        member=earlier, kind=SanctionKind.INVITE_SUSPENSION, moderator=None,
        reason="Invitees banned for spam: too many strikes.",
        ends_at=clock.now() + 60 * DAY,
    )
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(moderator)
    for member in (inviter, earlier):
        page = client.get(f"/moderation/members/{member.id}/").content.decode()
        assert shown in page
        if language == "ru":
            assert "Invitees banned for spam" not in page


def test_a_moderator_does_not_end_their_own_strike_suspension(
    founder: Member, moderator: Member
) -> None:
    spammers = [veteran(invited_by=moderator) for _ in range(2)]
    bans = [
        do_ban_member(member=spammer, moderator=founder, reason="Spam", for_spam=True)
        for spammer in spammers
    ]
    suspension = Sanction.objects.get(member=moderator, kind=SanctionKind.INVITE_SUSPENSION)
    # Nor the strike behind it: the ban of their own invitee is not theirs to declare
    # a mistake (test_a_moderator_cannot_declare_a_mistake_the_ban_of_their_own_invitee).
    with pytest.raises(ActionError) as refused:
        do_lift_sanction(sanction_id=bans[0].id, moderator=moderator, reason="My friend")
    assert refused.value.code == "conflict_of_interest"
    assert Strike.objects.get(invitee=spammers[0]).withdrawn_at is None
    suspension.refresh_from_db()
    assert suspension.ended_at is None and suspension.in_force_at(clock.now())
    assert suspension_rule(moderator).state == RuleState.FAILED
    # A founder declaring the other ban a mistake ends it.
    do_lift_sanction(sanction_id=bans[1].id, moderator=founder, reason="Not spam")
    suspension.refresh_from_db()
    assert (suspension.ended_by, suspension.upheld) == (founder, False)


def test_each_form_of_the_member_page_has_its_own_labelled_fields(
    clock: FrozenClock, founder: Member
) -> None:
    """The decision, each sanction's "end" and each grant's "withdraw" form all have a
    reason: they were all id="id_reason", so every "Reason" label named the decision's
    field (tapping one focused that field; a screen reader read the wrong one)."""
    member = make_member(display_name="Petr")
    client = page_client("+79160000001")
    url = f"/moderation/members/{member.id}/"
    client.post(url, {"decision": "warn", "reason": "Rude"})
    client.post(url, {"decision": "quarantine", "reason": "Mass messages"})
    client.post(url, {"decision": "grant_invites", "reason": "Local organiser",
                      "ends_on": (clock.current + 30 * DAY).date().isoformat()})
    page = client.get(url).content.decode()
    fields = re.findall(r'<(?:input|select|textarea)\b(?![^>]*type="hidden")[^>]*\bid="([^"]+)"',
                        page)
    labels = re.findall(r'<label for="([^"]+)"', page)
    assert len(fields) == len(set(fields)) >= 6, fields
    assert sorted(labels) == sorted(fields)
    # The forms still send what their views read.
    sanction = Sanction.objects.get(kind=SanctionKind.QUARANTINE)
    ended = client.post(f"/moderation/sanctions/{sanction.id}/end/", {"reason": "Fine"},
                        follow=True)
    assert "The sanction has ended." in ended.content.decode()


@pytest.mark.parametrize(("language", "required"), [
    ("en", "This field is required."), ("ru", "Это поле обязательно."),
])
def test_ending_a_sanction_without_a_reason_is_refused_by_its_field(
    founder: Member, language: str, required: str
) -> None:
    """A member's page has a decision form and an "end" form per sanction, each with a
    reason. An end sent without one came back as a bare "This field is required." at
    the top: whose? It is now by that sanction's reason, its form open, the box ticked
    still ticked."""
    member = make_member(display_name="Petr")
    client = page_client("+79160000001")
    client.cookies["django_language"] = language
    url = f"/moderation/members/{member.id}/"
    client.post(url, {"decision": "warn", "reason": "Rude"})
    client.post(url, {"decision": "quarantine", "reason": "Mass messages"})
    sanction = Sanction.objects.get(kind=SanctionKind.QUARANTINE)
    answer = client.post(f"/moderation/sanctions/{sanction.id}/end/",
                         {"reason": "", "upheld": "on"})
    assert answer.status_code == 200
    page = answer.content.decode()
    field = f"id_sanction_{sanction.id}_reason"
    assert re.search(rf'id="{field}_error"[^>]*>{required}<', page), page
    assert page.count(required) == 1
    assert re.search(rf'<details open>\s*<summary>[^<]*</summary>\s*'
                     rf'<form[^>]*/sanctions/{sanction.id}/end/"', page)
    [upheld] = re.findall(rf'<input[^>]*id="id_sanction_{sanction.id}_upheld"[^>]*>', page)
    assert " checked" in upheld
    assert re.findall(r'name="next" value="([^"]*)"', page)[0] == url
    assert Sanction.objects.get(id=sanction.id).ended_at is None


# --- where a decision came from ------------------------------------------------------

MODERATOR_ADDRESS = "203.0.113.77"
REPORTER_ADDRESS = "198.51.100.5"
# Entries about the request itself (a login), not about a decision.
NOT_DECISIONS = [AuditAction.LOGIN_SUCCEEDED, AuditAction.INVITATION_CREATED]


def addresses_by_action() -> set[tuple[str, str | None]]:
    return set(
        AuditEntry.objects.exclude(action__in=NOT_DECISIONS).values_list("action", "ip_address")
    )


def test_every_decision_made_on_the_pages_is_audited_with_the_address_it_came_from(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """Who, what, about whom, when — and from where: every entry a moderator's decision
    writes (its consequences included) carries the address the decision was sent from,
    as an operator's change in the admin does; a report, the reporter's."""
    client = Client(REMOTE_ADDR=MODERATOR_ADDRESS)
    client.force_login(founder)
    inviter = veteran(display_name="Inviter")
    spammer = veteran(display_name="Spammer", invited_by=inviter)
    do_invite_by_phone(inviter=spammer, phone="+79163330001")
    member = veteran(display_name="Petr")
    for decision in ("warn", "grant_invites", "suspend_invites"):
        client.post(f"/moderation/members/{member.id}/",
                    {"decision": decision, "reason": f"Decided: {decision}"})
    grant = InviteRightsGrant.objects.get()
    client.post(f"/moderation/grants/{grant.id}/withdraw/", {"reason": "Done"})
    suspension = Sanction.objects.get(kind=SanctionKind.INVITE_SUSPENSION)
    client.post(f"/moderation/sanctions/{suspension.id}/end/", {"reason": "Reviewed"})
    post = WallPost.objects.create(wall_owner=spammer, author=spammer, text="Casino")
    reporter = Client(REMOTE_ADDR=REPORTER_ADDRESS)
    reporter.force_login(veteran(display_name="Reporter"))
    reporter.post(f"/report/wall_post/{post.id}/", {"reason": "spam"})
    item = f"wall_post-{post.id}"
    client.post(f"/moderation/reports/wall_post/{post.id}/resolve", {
        f"{item}-decision": "ban", f"{item}-reason": "Casino links", f"{item}-for_spam": "on",
    })
    root = veteran(display_name="Root")
    veteran(invited_by=root)
    preview = preview_branch_action(moderator=founder, root=root,
                                    action=BranchAction.QUARANTINE)
    client.post(f"/moderation/tree/{root.id}/",
                {"action": "quarantine", "digest": preview.digest, "reason": "A ring"})
    assert addresses_by_action() == {
        (AuditAction.REPORT_FILED, REPORTER_ADDRESS),
        *((action, MODERATOR_ADDRESS) for action in (
            AuditAction.MEMBER_WARNED, AuditAction.INVITE_RIGHTS_GRANTED,
            AuditAction.INVITE_RIGHTS_SUSPENDED, AuditAction.INVITE_RIGHTS_GRANT_WITHDRAWN,
            AuditAction.SANCTION_LIFTED, AuditAction.MEMBER_BANNED,
            AuditAction.INVITATIONS_REVOKED_BY_BAN, AuditAction.STRIKE_RECORDED,
            AuditAction.REPORTED_CONTENT_REMOVED, AuditAction.REPORTS_RESOLVED,
            AuditAction.BRANCH_QUARANTINED, AuditAction.BRANCH_ACTION_APPLIED,
        )),
    }


def test_every_decision_made_through_the_api_is_audited_with_the_address_it_came_from(
    founder: Member,
) -> None:
    moderator = ApiClient()
    moderator.client.defaults["REMOTE_ADDR"] = MODERATOR_ADDRESS
    moderator.log_in("+79160000001")
    member = veteran(display_name="Petr")
    for decision in ("grant", "suspend"):
        response = moderator.post(f"/members/{member.id}/invite-rights",
                                  {"decision": decision, "reason": "Decided"})
        assert response.status_code == 200, response.json_body
    author, reporter = member_with_api("Author")[0], member_with_api("Reporter")[1]
    reporter.client.defaults["REMOTE_ADDR"] = REPORTER_ADDRESS
    post = WallPost.objects.create(wall_owner=author, author=author, text="Rude")
    assert reporter.post("/reports", {"target_kind": "wall_post", "target_id": post.id,
                                      "reason": "abuse"}).status_code == 201
    assert moderator.post(f"/moderation/reports/wall_post/{post.id}/resolve",
                          {"decision": "warn", "reason": "Be polite"}).status_code == 200
    root = veteran(display_name="Root")
    preview = moderator.get(f"/tree/members/{root.id}/branch-actions/ban").json_body
    assert moderator.post(f"/tree/members/{root.id}/branch-actions/ban",
                          {"digest": preview["digest"], "reason": "A ring"}).status_code == 200
    assert addresses_by_action() == {
        (AuditAction.REPORT_FILED, REPORTER_ADDRESS),
        *((action, MODERATOR_ADDRESS) for action in (
            AuditAction.INVITE_RIGHTS_GRANTED, AuditAction.INVITE_RIGHTS_SUSPENDED,
            AuditAction.MEMBER_WARNED, AuditAction.REPORTED_CONTENT_REMOVED,
            AuditAction.REPORTS_RESOLVED, AuditAction.BRANCH_BANNED,
            AuditAction.BRANCH_ACTION_APPLIED,
        )),
    }


def test_an_operators_status_change_is_audited_with_the_address_it_came_from(
    founder: Member,
) -> None:
    member = veteran()
    do_set_status_as_operator(member=member, operator=founder, status="quarantined",
                              reason="Review", ip_address=MODERATOR_ADDRESS)
    do_set_status_as_operator(member=member, operator=founder, status="banned",
                              reason="Spam", ip_address=MODERATOR_ADDRESS)
    assert addresses_by_action() == {
        (AuditAction.MEMBER_QUARANTINED, MODERATOR_ADDRESS),
        (AuditAction.SANCTION_LIFTED, MODERATOR_ADDRESS),
        (AuditAction.MEMBER_BANNED, MODERATOR_ADDRESS),
    }


# --- a ban declared a mistake: who may decide, and what comes back -----------------


@pytest.mark.parametrize(
    ("language", "refusal"),
    [
        ("en", "You invited this member: whether their ban was a mistake is not yours to "
               "decide. Another moderator or a founder can decide it."),
        ("ru", "Вы пригласили этого участника: не вам решать, была ли его блокировка "
               "ошибкой. Это может решить другой модератор или основатель."),
    ],
)
def test_a_moderator_cannot_declare_a_mistake_the_ban_of_their_own_invitee(
    clock: FrozenClock, founder: Member, language: str, refusal: str
) -> None:
    """Declaring a ban a mistake withdraws the strike it gave the inviter and can end
    the inviter's strike-rule suspension: the inviter does not decide it."""
    inviter = make_member(phone="+79163330020", role=Member.Role.MODERATOR,
                          joined_at=clock.current - 400 * DAY, display_name="Mod Inviter")
    first, second = veteran(invited_by=inviter), veteran(invited_by=inviter)
    bans = [
        do_ban_member(member=invitee, moderator=founder, reason="Spam", for_spam=True)
        for invitee in (first, second)
    ]
    suspension = Sanction.objects.get(member=inviter, kind=SanctionKind.INVITE_SUSPENSION)
    entries = AuditEntry.objects.count()

    def nothing_written() -> None:
        assert AuditEntry.objects.count() == entries
        assert not Strike.objects.filter(withdrawn_at__isnull=False).exists()
        assert all(sanction.upheld and sanction.ended_at is None
                   for sanction in Sanction.objects.all())

    with translation.override(language), pytest.raises(ActionError) as refused:
        do_lift_sanction(sanction_id=bans[1].id, moderator=inviter, reason="Not spam")
    assert (refused.value.code, refused.value.status) == ("conflict_of_interest", 403)
    assert str(refused.value.message) == refusal
    nothing_written()
    # The page refuses the same.
    client = page_client("+79163330020")
    client.cookies["django_language"] = language
    entries = AuditEntry.objects.count()  # the login's own entry
    answer = client.post(f"/moderation/sanctions/{bans[0].id}/end/", {"reason": "Not spam"})
    assert answer.status_code == 403
    assert refusal in answer.content.decode()
    nothing_written()
    # Another moderator may: the strike is withdrawn (the suspension of a peer, only
    # a founder ends)...
    other = make_member(role=Member.Role.MODERATOR, display_name="Mod Ivan")
    do_lift_sanction(sanction_id=bans[1].id, moderator=other, reason="Not spam")
    assert Strike.objects.get(invitee=second).withdrawn_at == clock.current
    # ... and a founder may, which ends the suspension too.
    do_lift_sanction(sanction_id=bans[0].id, moderator=founder, reason="Not spam")
    suspension.refresh_from_db()
    assert (suspension.ended_at, suspension.upheld) == (clock.current, False)
    # A founder gets no strike for their invitees (nobody acts on a founder), and
    # nobody ranks above them: they may declare their own invitee's ban a mistake.
    own = veteran(invited_by=founder)
    ban = do_ban_member(member=own, moderator=other, reason="Spam", for_spam=True)
    do_lift_sanction(sanction_id=ban.id, moderator=founder, reason="Not spam")
    assert Sanction.objects.get(id=ban.id).upheld is False


@pytest.mark.parametrize(("language", "listed"), [
    ("en", "Allowance given back for invitations revoked by a ban declared a mistake"),
    ("ru", "Возвращены приглашения, отозванные блокировкой, признанной ошибкой"),
])
def test_the_allowance_a_mistaken_ban_gives_back_is_audited(
    clock: FrozenClock, founder: Member, moderator: Member, sms_outbox: SmsOutbox,
    language: str, listed: str,
) -> None:
    """The refund is a decision's consequence like the revocation it undoes: who decided,
    for whom, how many invitations, from which address — with the decision, in its
    transaction; ended as deserved, nothing comes back and nothing is written."""
    other = veteran(display_name="Other")
    do_invite_by_phone(inviter=other, phone="+79163330049")
    deserved = do_ban_member(member=other, moderator=moderator, reason="Spam")
    do_lift_sanction(sanction_id=deserved.id, moderator=moderator, reason="Served",
                     upheld=True)
    assert not AuditEntry.objects.filter(
        action=AuditAction.INVITATIONS_GIVEN_BACK_AFTER_BAN).exists()
    member = veteran(display_name="Member")
    for n in range(2):
        do_invite_by_phone(inviter=member, phone=f"+7916333004{n}")
    ban = do_ban_member(member=member, moderator=moderator, reason="Spam?")
    clock.advance(days=1)
    pages = Client(REMOTE_ADDR=MODERATOR_ADDRESS)
    pages.force_login(moderator)
    ended = pages.post(f"/moderation/sanctions/{ban.id}/end/", {"reason": "Wrong person"})
    assert ended.status_code == 302
    entry = AuditEntry.objects.get(action=AuditAction.INVITATIONS_GIVEN_BACK_AFTER_BAN)
    assert (entry.actor, entry.target_member, entry.ip_address, entry.created_at) == (
        moderator, member, MODERATOR_ADDRESS, clock.current)
    assert entry.details == {"sanction": ban.id, "refunded": 2}
    lifted = AuditEntry.objects.get(action=AuditAction.SANCTION_LIFTED,
                                    details__upheld=False)
    assert lifted.created_at == entry.created_at
    # Where the log is read, in the reader's language.
    admin = Client(HTTP_ACCEPT_LANGUAGE=language)
    admin.force_login(founder)
    log = admin.get("/admin/audit_log/auditentry/").content.decode()
    assert listed in log


MISTAKE_NOT_YOURS = {
    "en": "You invited this member: whether their ban was a mistake is not yours to "
          "decide. Another moderator or a founder can decide it.",
    "ru": "Вы пригласили этого участника: не вам решать, была ли его блокировка "
          "ошибкой. Это может решить другой модератор или основатель.",
}


def _end_forms(page: str, sanction: Sanction) -> list[str]:
    """The forms on a member's page that end ``sanction``."""
    return re.findall(rf'<form[^>]*/sanctions/{sanction.id}/end/".*?</form>', page, re.S)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_member_page_does_not_offer_the_inviter_to_declare_the_ban_a_mistake(
    clock: FrozenClock, founder: Member, language: str
) -> None:
    """The inviter's page offered them "mark as a mistake" (an end without the
    "deserved" box ticked) for their invitee's ban, which the action then refused: it
    now offers only to end it as deserved, and says why; once it is over, nothing."""
    inviter = make_member(phone="+79163330020", role=Member.Role.MODERATOR,
                          joined_at=clock.current - 400 * DAY, display_name="Mod Inviter")
    invitee = veteran(invited_by=inviter, display_name="Invitee")
    quarantine = do_quarantine_member(member=invitee, moderator=founder, reason="Links")
    ban = do_ban_member(member=invitee, moderator=founder, reason="Spam", for_spam=True)
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(inviter)
    url = f"/moderation/members/{invitee.id}/"
    page = client.get(url).content.decode()
    assert page.count(MISTAKE_NOT_YOURS[language]) == 1
    [form] = _end_forms(page, ban)
    assert 'type="checkbox"' not in form
    assert re.search(r'<input type="hidden" name="upheld" value="True"', form), form
    # Their invitee's other sanctions they may declare a mistake.
    [other] = _end_forms(page, quarantine)
    assert re.search(
        rf'<input type="checkbox" name="upheld" id="id_sanction_{quarantine.id}_upheld"', other
    ), other
    # Another moderator is offered both.
    peer = Client(HTTP_ACCEPT_LANGUAGE=language)
    peer.force_login(make_member(role=Member.Role.MODERATOR, display_name="Mod Ivan"))
    seen_by_peer = peer.get(url).content.decode()
    assert MISTAKE_NOT_YOURS[language] not in seen_by_peer
    [form_of_peer] = _end_forms(seen_by_peer, ban)
    assert re.search(rf'<input type="checkbox" name="upheld" id="id_sanction_{ban.id}_upheld"',
                     form_of_peer), form_of_peer
    # What the inviter is offered is done: the ban ends as deserved.
    ended = client.post(f"/moderation/sanctions/{ban.id}/end/",
                        {"reason": "Served", "upheld": "True"})
    assert (ended.status_code, ended["Location"]) == (302, url)
    ban.refresh_from_db()
    assert ban.upheld and ban.ended_by == inviter
    assert Strike.objects.get(invitee=invitee).withdrawn_at is None
    # Over and kept on the record: the only step left, "mark as a mistake", is not theirs.
    page = client.get(url).content.decode()
    assert _end_forms(page, ban) == []
    assert page.count(MISTAKE_NOT_YOURS[language]) == 1
    assert len(_end_forms(client.get(url).content.decode(), quarantine)) == 1


@pytest.mark.parametrize("upheld", [False, True])
def test_a_ban_declared_a_mistake_gives_back_the_invitations_it_revoked(
    clock: FrozenClock, moderator: Member, sms_outbox: SmsOutbox, upheld: bool
) -> None:
    phone = "+79163330030"
    member = make_member(phone=phone, joined_at=clock.current - 400 * DAY)
    api = ApiClient()
    api.log_in(phone)
    before = api.get("/me/invite-rights").json_body["allowance"]["available"]
    invitations = [
        do_invite_by_phone(inviter=member, phone=f"+7916333004{n}") for n in range(3)
    ]
    assert api.get("/me/invite-rights").json_body["allowance"]["available"] == before - 3
    token = sms_outbox.join_token_for("+79163330040")
    ban = do_ban_member(member=member, moderator=moderator, reason="Spam?")
    clock.advance(days=1)
    do_lift_sanction(sanction_id=ban.id, moderator=moderator, reason="Reviewed",
                     upheld=upheld)
    api = ApiClient()
    api.log_in(phone)
    available = api.get("/me/invite-rights").json_body["allowance"]["available"]
    # Declared a mistake: the allowance is what it was before the invitations were
    # sent; ended as deserved: nothing comes back.
    assert available == (before - 3 if upheld else before)
    if not upheld:
        page = page_client(phone).get("/invite/").content.decode()
        assert f"You can invite: {before} invitations left." in page, page
    # The invitations stay revoked: their links are dead.
    for invitation in invitations:
        invitation.refresh_from_db()
        assert invitation.state == InvitationState.REVOKED
    with pytest.raises(ActionError) as refused:
        access_invitation_by_token(token)
    assert refused.value.code == "invitation_revoked"
    # Given back once: not again when they would have expired.
    lifted_at = clock.current
    clock.advance(days=30)
    assert sweep_expired_refunds(now=clock.current) == 0
    assert {invitation.allowance_refunded_at for invitation in invitations} == {
        None if upheld else lifted_at
    }


@pytest.mark.parametrize(("language", "heading"), [
    ("en", "<h2>The rules for inviting, as Petr sees them</h2>"),
    ("ru", "<h2>Правила приглашения — так их видит Petr</h2>"),
])
def test_the_moderators_page_says_whose_rules_it_shows(
    founder: Member, language: str, heading: str
) -> None:
    """The checklist speaks to the member it is about ("Your account is at least 30
    days old"); on a moderator's page it read as if about the moderator."""
    member = make_member(phone="+79163330010", display_name="Petr")
    client = page_client("+79160000001")
    client.post("/language/", {"language": language, "next": "/"})
    page = client.get(f"/moderation/members/{member.id}/").content.decode()
    assert heading in page
    own = client.get("/invite/").content.decode()
    assert own.count("<h2>") == 1 and "sees them" not in own and "так их видит" not in own


NOT_YOURS_TO_DECIDE = {
    ("en", Member.Role.MODERATOR): "Only a founder can decide about a moderator.",
    ("ru", Member.Role.MODERATOR): "Решать о модераторе может только основатель.",
    ("en", Member.Role.FOUNDER): "Nobody decides about a founder on these pages: an "
                                 "administrator changes a founder&#x27;s role or status in "
                                 "the admin.",
    ("ru", Member.Role.FOUNDER): "На этих страницах об основателе не решает никто: его роль "
                                 "или статус меняет администратор в админке.",
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_member_page_offers_no_decision_the_viewer_may_not_make(
    founder: Member, moderator: Member, language: str
) -> None:
    """A moderator's page of a fellow moderator (or of a founder, or their own) offered
    every form — decide, end, mark as a mistake, withdraw — and each was refused with
    403 cannot_moderate: it now offers none and says who decides, in the words the
    refusal uses."""
    peer = make_member(role=Member.Role.MODERATOR, display_name="Mod Ivan")
    warning = do_warn_member(member=peer, moderator=founder, reason="Rude")
    suspension = do_suspend_invite_rights(member=peer, moderator=founder, reason="Spam?")
    grant = do_grant_invite_rights(member=peer, moderator=founder, reason="Trusted")
    other_founder = make_member(role=Member.Role.FOUNDER, display_name="Founder Oleg")

    def page(viewer: Member, member: Member) -> str:
        client = Client(HTTP_ACCEPT_LANGUAGE=language)
        client.force_login(viewer)
        response = client.get(f"/moderation/members/{member.id}/")
        assert response.status_code == 200
        return response.content.decode()

    for viewer, member in [(moderator, peer), (peer, peer), (moderator, founder),
                           (founder, founder), (founder, other_founder)]:
        seen = page(viewer, member)
        assert 'data-testid="decision-form"' not in seen
        assert "/end/" not in seen and "/withdraw/" not in seen
        said = NOT_YOURS_TO_DECIDE[(language, Member.Role(member.role))]
        assert seen.count(said) == 1, seen
        # What the page says is why the action would refuse.
        with translation.override(language), pytest.raises(ActionError) as refused:
            do_warn_member(member=member, moderator=viewer, reason="Rude")
        assert refused.value.code == "cannot_moderate"
        assert str(refused.value.message).replace("'", "&#x27;") == said
    # A founder is offered every form on the moderator's page, and no such sentence.
    seen = page(founder, peer)
    assert 'data-testid="decision-form"' in seen
    assert len(_end_forms(seen, warning)) == 1 and len(_end_forms(seen, suspension)) == 1
    assert f"/grants/{grant.id}/withdraw/" in seen
    assert NOT_YOURS_TO_DECIDE[(language, Member.Role.MODERATOR)] not in seen
    # Members' pages are the moderator's to decide on, as before.
    assert 'data-testid="decision-form"' in page(moderator, veteran())
