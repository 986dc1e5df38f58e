"""Branch actions: the preview's counts are what apply changes; a branch that changed
after the preview is refused with nothing written; every affected member is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations import tree
from inviteonly.invitations.branch_actions import (
    BranchAction,
    do_apply_branch_action,
    preview_branch_action,
)
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.rights import evaluate_invite_rights
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.actions import do_suspend_invite_rights
from inviteonly.moderation.models import Sanction, SanctionKind, Strike
from inviteonly.notifications.models import Notification, NotificationKind
from tests.conftest import FrozenClock, make_member

pytestmark = pytest.mark.django_db

@pytest.fixture
def moderator(founder: Member) -> Member:
    return make_member(display_name="Mod", role=Member.Role.MODERATOR, invited_by=founder)


@pytest.fixture
def branch(founder: Member) -> list[Member]:
    """root → a, b; a → a1, a2; b → b1 (a moderator); b1 → b2. a2 is quarantined."""
    root = make_member(display_name="Root", invited_by=founder)
    a = make_member(display_name="A", invited_by=root)
    b = make_member(display_name="B", invited_by=root)
    a1 = make_member(display_name="A1", invited_by=a)
    a2 = make_member(display_name="A2", invited_by=a)
    b1 = make_member(display_name="B1", invited_by=b, role=Member.Role.MODERATOR)
    b2 = make_member(display_name="B2", invited_by=b1)
    Member.objects.filter(pk=a2.pk).update(status=Member.Status.QUARANTINED)
    return [root, a, b, a1, a2, b1, b2]


def statuses(members: list[Member]) -> list[str]:
    by_id = dict(Member.objects.values_list("id", "status"))
    return [by_id[member.pk] for member in members]


def test_quarantine_applies_exactly_the_preview(
    moderator: Member, branch: list[Member], clock: FrozenClock
) -> None:
    root = branch[0]
    preview = preview_branch_action(moderator=moderator, root=root, action=BranchAction.QUARANTINE)
    assert preview.counts == tree.BranchCounts(members=7, active=6, quarantined=1, banned=0)
    # The moderator B1 is left alone, A2 is already quarantined.
    assert preview.affected == 5
    applied = do_apply_branch_action(
        moderator=moderator,
        root=root,
        action=BranchAction.QUARANTINE,
        digest=preview.digest,
        reason="Spam wave from this branch",
    )
    assert applied.affected == preview.affected
    assert statuses(branch) == ["quarantined"] * 5 + ["active", "quarantined"]
    entries = AuditEntry.objects.filter(action=AuditAction.BRANCH_QUARANTINED)
    assert entries.count() == preview.affected
    assert {entry.target_member_id for entry in entries} == {
        member.pk for member in branch if member.role == Member.Role.MEMBER
    } - {branch[4].pk}
    assert all(
        entry.actor_id == moderator.pk
        and entry.created_at == clock.current
        and entry.details == {"reason": "Spam wave from this branch", "branch_root": root.pk}
        for entry in entries
    )
    summary = AuditEntry.objects.get(action=AuditAction.BRANCH_ACTION_APPLIED)
    assert summary.details["count"] == 5
    assert tree.branch_counts(root).quarantined == 6

    # Reversible: lifting the quarantine brings back all six (A2 included).
    lift = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.LIFT_QUARANTINE
    )
    assert lift.affected == 6
    do_apply_branch_action(
        moderator=moderator,
        root=root,
        action=BranchAction.LIFT_QUARANTINE,
        digest=lift.digest,
        reason="Reviewed: a false alarm",
    )
    assert tree.branch_counts(root) == tree.BranchCounts(members=7, active=7)


def test_ban_kills_pending_invitations(
    moderator: Member, branch: list[Member], founder: Member
) -> None:
    from datetime import timedelta

    from inviteonly.lib import clock

    now = clock.now()
    pending = Invitation.objects.create(
        inviter=branch[3], phone_masked="+7 916 ***-**-01", token_digest="x" * 64,
        expires_at=now + timedelta(days=7),
    )
    outside = Invitation.objects.create(
        inviter=founder, phone_masked="+7 916 ***-**-02", token_digest="y" * 64,
        expires_at=now + timedelta(days=7),
    )
    subtree = branch[1]  # A and its two invitees
    preview = preview_branch_action(moderator=moderator, root=subtree, action=BranchAction.BAN)
    assert (preview.counts.members, preview.affected) == (3, 3)
    do_apply_branch_action(
        moderator=moderator, root=subtree, action=BranchAction.BAN, digest=preview.digest,
        reason="Sold invitations",
    )
    assert statuses(branch) == [
        "active", "banned", "active", "banned", "banned", "active", "active"
    ]
    pending.refresh_from_db()
    outside.refresh_from_db()
    assert pending.revoked_at is not None
    assert outside.revoked_at is None
    # Whoever let the branch in answers for it: a strike and a notice with the reason.
    inviter = subtree.invited_by
    assert inviter is not None
    assert Strike.objects.filter(member=inviter, invitee=subtree).count() == 1
    notice = Notification.objects.get(member=inviter, kind=NotificationKind.INVITEE_BANNED)
    assert notice.reason == "Sold invitations"


@pytest.mark.parametrize("change", ["joined", "status"])
def test_apply_refuses_a_branch_that_changed(
    moderator: Member, branch: list[Member], change: str
) -> None:
    root = branch[0]
    preview = preview_branch_action(moderator=moderator, root=root, action=BranchAction.BAN)
    if change == "joined":
        make_member(display_name="Late", invited_by=branch[6])
    else:
        Member.objects.filter(pk=branch[4].pk).update(status=Member.Status.ACTIVE)
    before = statuses(branch)
    with pytest.raises(ActionError) as refused:
        do_apply_branch_action(
            moderator=moderator, root=root, action=BranchAction.BAN, digest=preview.digest,
            reason="Spam",
        )
    assert (refused.value.code, refused.value.status) == ("branch_changed", 409)
    assert statuses(branch) == before
    assert not AuditEntry.objects.filter(
        action__in=[AuditAction.BRANCH_BANNED, AuditAction.BRANCH_ACTION_APPLIED]
    ).exists()


def test_only_moderators_act_and_a_reason_is_required(
    moderator: Member, branch: list[Member]
) -> None:
    root, member = branch[0], branch[3]
    with pytest.raises(ActionError) as refused:
        preview_branch_action(moderator=member, root=root, action=BranchAction.BAN)
    assert refused.value.code == "moderators_only"
    preview = preview_branch_action(moderator=moderator, root=root, action=BranchAction.BAN)
    with pytest.raises(ActionError) as refused:
        do_apply_branch_action(
            moderator=moderator, root=root, action=BranchAction.BAN, digest=preview.digest,
            reason="  ",
        )
    assert refused.value.code == "reason_required"
    with pytest.raises(ActionError) as refused:
        do_apply_branch_action(
            moderator=member, root=root, action=BranchAction.BAN, digest=preview.digest,
            reason="x",
        )
    assert refused.value.code == "moderators_only"
    assert statuses(branch)[0] == "active"


def suspension_state(member: Member) -> str:
    rules = {rule.rule: rule for rule in evaluate_invite_rights(member).rules}
    return str(rules["suspension"].state)


def test_suspend_invites_applies_the_preview_and_lapses_at_its_end(
    moderator: Member, branch: list[Member], clock: FrozenClock
) -> None:
    root, a, b, a1, _a2, _b1, b2 = branch
    # B's rights are suspended already (until later than the branch suspension ends).
    do_suspend_invite_rights(
        member=b, moderator=moderator, reason="Earlier", ends_at=clock.current + timedelta(days=30)
    )
    preview = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES
    )
    # Root, A, A1, B2: the moderator B1, the quarantined A2 and the suspended B are left out.
    assert preview.affected == 4
    assert preview.counts == tree.BranchCounts(members=7, active=6, quarantined=1, banned=0)
    ends_at = clock.current + timedelta(days=7)
    applied = do_apply_branch_action(
        moderator=moderator,
        root=root,
        action=BranchAction.SUSPEND_INVITES,
        digest=preview.digest,
        reason="Invitations sold in bulk",
        ends_at=ends_at,
    )
    assert applied.affected == preview.affected
    targets = {root.pk, a.pk, a1.pk, b2.pk}
    sanctions = Sanction.objects.filter(kind=SanctionKind.INVITE_SUSPENSION).exclude(member=b)
    assert {s.member_id for s in sanctions} == targets
    assert {(s.reason, s.moderator_id, s.ends_at, s.upheld) for s in sanctions} == {
        ("Invitations sold in bulk", moderator.pk, ends_at, True)
    }
    entries = AuditEntry.objects.filter(
        action=AuditAction.INVITE_RIGHTS_SUSPENDED, details__branch_root=root.pk
    )
    assert {entry.target_member_id for entry in entries} == targets
    assert entries.count() == len(targets)
    assert all(entry.details["reason"] == "Invitations sold in bulk" for entry in entries)
    # Each is told why and until when, as for one member's suspension.
    notices = Notification.objects.filter(kind=NotificationKind.INVITE_RIGHTS_SUSPENDED)
    assert sorted((n.member_id, n.reason, n.until) for n in notices.exclude(member=b)) == sorted(
        (pk, "Invitations sold in bulk", ends_at) for pk in targets
    )
    summary = AuditEntry.objects.get(action=AuditAction.BRANCH_ACTION_APPLIED)
    assert summary.details["count"] == 4
    # Statuses are untouched; only the rights are suspended.
    assert statuses(branch) == ["active"] * 4 + ["quarantined", "active", "active"]
    assert suspension_state(a1) == "failed"
    assert not evaluate_invite_rights(a1).can_invite
    # Nobody is left to suspend: a second preview finds no target.
    again = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES
    )
    assert again.affected == 0
    # The suspension lapses by itself at its end, like one member's suspension.
    clock.current = ends_at - timedelta(seconds=1)
    assert suspension_state(a1) == "failed"
    clock.current = ends_at
    assert suspension_state(a1) == "passed"
    assert suspension_state(b) == "failed"
    lapsed = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES
    )
    assert lapsed.affected == 4


def test_suspend_invites_refuses_a_changed_branch_and_a_past_end(
    moderator: Member, branch: list[Member], clock: FrozenClock
) -> None:
    root, a1 = branch[0], branch[3]
    preview = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES
    )
    # A target's rights were suspended meanwhile: the targets changed.
    do_suspend_invite_rights(member=a1, moderator=moderator, reason="Meanwhile")
    with pytest.raises(ActionError) as refused:
        do_apply_branch_action(
            moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES,
            digest=preview.digest, reason="Spam",
        )
    assert (refused.value.code, refused.value.status) == ("branch_changed", 409)
    fresh = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES
    )
    with pytest.raises(ActionError) as refused:
        do_apply_branch_action(
            moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES,
            digest=fresh.digest, reason="Spam", ends_at=clock.current,
        )
    assert refused.value.code == "ends_at_in_past"
    with pytest.raises(ActionError) as refused:
        do_apply_branch_action(
            moderator=moderator, root=root, action=BranchAction.QUARANTINE,
            digest=preview_branch_action(
                moderator=moderator, root=root, action=BranchAction.QUARANTINE
            ).digest,
            reason="Spam", ends_at=clock.current + timedelta(days=1),
        )
    assert refused.value.code == "ends_at_not_applicable"
    # Nothing written by any refusal: only the single suspension of A1 exists.
    assert list(Sanction.objects.values_list("member_id", flat=True)) == [a1.pk]
    assert not AuditEntry.objects.filter(
        action=AuditAction.INVITE_RIGHTS_SUSPENDED, details__has_key="branch_root"
    ).exists()
    assert not AuditEntry.objects.filter(action=AuditAction.BRANCH_ACTION_APPLIED).exists()
    assert list(Notification.objects.values_list("member_id", flat=True)) == [a1.pk]
    assert statuses(branch) == ["active"] * 4 + ["quarantined", "active", "active"]
