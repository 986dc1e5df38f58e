"""Branch actions: the preview's counts are what apply changes; a branch that changed
after the preview is refused with nothing written; every affected member is audited."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from inviteonly.accounts.models import Member, MemberSession
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations import tree
from inviteonly.invitations.branch_actions import (
    BranchAction,
    BranchPreview,
    do_apply_branch_action,
    preview_branch_action,
)
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.rights import evaluate_invite_rights
from inviteonly.lib import clock as clock_module
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.actions import (
    do_ban_member,
    do_lift_sanction,
    do_quarantine_member,
    do_suspend_invite_rights,
    do_warn_member,
)
from inviteonly.moderation.models import Sanction, SanctionKind, Strike
from inviteonly.moderation.queries import open_quarantines
from inviteonly.notifications.models import Notification, NotificationKind
from tests.conftest import PASSWORD, ApiClient, FrozenClock, make_member, new_ru_number

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)

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
    for digit in "34":
        Invitation.objects.create(
            inviter=branch[4], phone_masked=f"+7 916 ***-**-0{digit}",
            token_digest=digit * 64, expires_at=now + timedelta(days=7),
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
    # Each member whose invitations the ban revoked has the audit entry a ban of them
    # alone writes, with their own count.
    revoked_audit = AuditEntry.objects.filter(action=AuditAction.INVITATIONS_REVOKED_BY_BAN)
    assert sorted(
        (entry.target_member_id, entry.actor_id, entry.details) for entry in revoked_audit
    ) == [
        (branch[3].pk, moderator.pk, {"revoked_invitations": 1}),
        (branch[4].pk, moderator.pk, {"revoked_invitations": 2}),
    ]
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
    moderator: Member, branch: list[Member], founder: Member
) -> None:
    root, member = branch[0], branch[3]
    with pytest.raises(ActionError) as refused:
        preview_branch_action(moderator=member, root=root, action=BranchAction.BAN)
    assert (refused.value.code, refused.value.status) == ("not_a_moderator", 403)
    preview = preview_branch_action(moderator=moderator, root=root, action=BranchAction.BAN)
    # A quarantined moderator is no moderator, for a branch as for one member.
    rogue = make_member(display_name="Rogue", role=Member.Role.MODERATOR, invited_by=founder)
    rogue_preview = preview_branch_action(moderator=rogue, root=root, action=BranchAction.BAN)
    do_quarantine_member(member=rogue, moderator=founder, reason="Abused the tools")
    rogue.refresh_from_db()
    for attempt in (
        lambda: preview_branch_action(moderator=rogue, root=root, action=BranchAction.BAN),
        lambda: do_apply_branch_action(
            moderator=rogue, root=root, action=BranchAction.BAN, digest=rogue_preview.digest,
            reason="Revenge",
        ),
        lambda: tree.access_tree_member(rogue, root.pk),
    ):
        with pytest.raises(ActionError) as refused:
            attempt()
        assert (refused.value.code, refused.value.status) == ("not_a_moderator", 403)
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
    assert refused.value.code == "not_a_moderator"
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
    ends_at = clock.current + timedelta(days=7)
    preview = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES, ends_at=ends_at
    )
    # Root, A, A1, B2: the moderator B1, the quarantined A2 and B, suspended for longer,
    # are left out.
    assert preview.affected == 4
    assert preview.counts == tree.BranchCounts(members=7, active=6, quarantined=1, banned=0)
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
    # Nobody is left to suspend until then: a second preview finds no target (a
    # suspension without end would replace all five, B's included).
    again = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES, ends_at=ends_at
    )
    assert again.affected == 0
    assert preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES
    ).affected == 5
    # The suspension lapses by itself at its end, like one member's suspension.
    clock.current = ends_at - timedelta(seconds=1)
    assert suspension_state(a1) == "failed"
    clock.current = ends_at
    assert suspension_state(a1) == "passed"
    assert suspension_state(b) == "failed"
    lapsed = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES,
        ends_at=ends_at + timedelta(days=7),
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


def apply(
    moderator: Member,
    root: Member,
    action: BranchAction,
    *,
    reason: str = "Spam ring",
    ends_at: datetime | None = None,
) -> BranchPreview:
    preview = preview_branch_action(moderator=moderator, root=root, action=action, ends_at=ends_at)
    applied = do_apply_branch_action(
        moderator=moderator, root=root, action=action, digest=preview.digest, reason=reason,
        ends_at=ends_at,
    )
    assert applied.affected == preview.affected
    return applied


def test_a_branch_quarantine_is_a_sanction_per_member_that_later_decisions_keep(
    moderator: Member, branch: list[Member], clock: FrozenClock
) -> None:
    root, a, b, a1, _a2, _b1, b2 = branch
    apply(moderator, root, BranchAction.QUARANTINE, reason="Spam wave")
    targets = {root.pk, a.pk, b.pk, a1.pk, b2.pk}
    # Each target gets the quarantine a moderator gives one member: a sanction in force
    # until a moderator ends it, and a notice with the reason.
    quarantines = Sanction.objects.filter(kind=SanctionKind.QUARANTINE)
    assert sorted(s.member_id for s in quarantines) == sorted(targets)
    assert {
        (s.reason, s.moderator_id, s.created_at, s.ends_at, s.upheld, s.ended_at)
        for s in quarantines
    } == {("Spam wave", moderator.pk, clock.current, None, True, None)}
    notices = Notification.objects.filter(kind=NotificationKind.QUARANTINED)
    assert sorted((n.member_id, n.reason) for n in notices) == sorted(
        (pk, "Spam wave") for pk in targets
    )
    # They wait for review on /moderation/ like any quarantined member.
    assert {s.member_id for s in open_quarantines(moderator, now=clock.current)} == targets
    client = Client()
    client.force_login(moderator)
    cases = client.get("/moderation/").content.decode()
    assert "Root" in cases and "B2" in cases and "Spam wave" in cases

    # Later decisions about them recompute the status from their sanctions, which now
    # include the branch's quarantine.
    do_warn_member(member=a1, moderator=moderator, reason="Rude as well")
    # Two of the root's invitees banned for spam: the strike rule suspends the root's
    # invite rights, and the root stays quarantined.
    do_ban_member(member=a, moderator=moderator, reason="Spam", for_spam=True)
    do_ban_member(member=b, moderator=moderator, reason="Spam", for_spam=True)
    assert Sanction.objects.filter(
        member=root, kind=SanctionKind.INVITE_SUSPENSION, moderator=None
    ).exists()
    assert statuses([root, a, b, a1, b2]) == [
        "quarantined", "banned", "banned", "quarantined", "quarantined"
    ]


def test_a_branch_ban_is_a_sanction_per_member_that_later_decisions_keep(
    moderator: Member, founder: Member
) -> None:
    root = make_member(display_name="Root", invited_by=founder)
    phone = new_ru_number()
    spammer = make_member(display_name="Spammer", invited_by=root, phone=phone)
    quarantined = make_member(display_name="Q", invited_by=root)
    do_quarantine_member(member=quarantined, moderator=moderator, reason="Links")
    spammers_api = ApiClient()
    spammers_api.log_in(phone)
    apply(moderator, root, BranchAction.BAN, reason="Invitation ring")
    # Logged out everywhere, as a ban of one member is: no session to come back to.
    assert not MemberSession.objects.filter(member=spammer).exists()
    assert spammers_api.get("/me").status_code == 401
    bans = Sanction.objects.filter(kind=SanctionKind.BAN)
    assert sorted(s.member_id for s in bans) == sorted([root.pk, spammer.pk, quarantined.pk])
    assert {(s.reason, s.moderator_id, s.ends_at) for s in bans} == {
        ("Invitation ring", moderator.pk, None)
    }
    # A banned member cannot log in to read a notice: none is written (as for one ban).
    assert not Notification.objects.filter(member__in=[root, spammer]).exists()

    do_suspend_invite_rights(member=spammer, moderator=moderator, reason="Belt and braces")
    do_warn_member(member=root, moderator=moderator, reason="Noted")
    # The quarantine stays in force under the ban; ending it leaves the ban.
    do_lift_sanction(
        sanction_id=Sanction.objects.get(member=quarantined, kind=SanctionKind.QUARANTINE).id,
        moderator=moderator, reason="Reviewed",
    )
    assert statuses([root, spammer, quarantined]) == ["banned"] * 3
    login = ApiClient().post("/session", {"phone": phone, "password": PASSWORD})
    assert login.status_code != 201


def test_lifting_a_branch_quarantine_ends_every_quarantine_in_it(
    moderator: Member, branch: list[Member], founder: Member, clock: FrozenClock
) -> None:
    root, a, b, a1, a2, b1, b2 = branch
    # A1 was quarantined on its own before the branch was.
    own = do_quarantine_member(member=a1, moderator=moderator, reason="Spam links")
    apply(moderator, root, BranchAction.QUARANTINE)
    clock.advance(hours=1)
    lifted = apply(moderator, root, BranchAction.LIFT_QUARANTINE, reason="Reviewed: false alarm")
    assert lifted.affected == 6  # A2, quarantined without a sanction, included
    assert statuses(branch) == ["active"] * 7
    # Every quarantine of the branch ended as a moderator ending it would end it
    # (declared a mistake, the default of ending a sanction), A1's own included.
    assert not open_quarantines(moderator, now=clock.current).exists()
    assert {
        (s.ended_at, s.ended_by_id, s.end_reason, s.upheld)
        for s in Sanction.objects.filter(kind=SanctionKind.QUARANTINE)
    } == {(clock.current, moderator.pk, "Reviewed: false alarm", False)}
    own.refresh_from_db()
    assert own.ended_at == clock.current
    notices = Notification.objects.filter(kind=NotificationKind.SANCTION_LIFTED)
    assert sorted((n.member_id, n.reason) for n in notices) == sorted(
        (member.pk, "Reviewed: false alarm") for member in (root, a, b, a1, a2, b2)
    )
    entries = AuditEntry.objects.filter(action=AuditAction.BRANCH_QUARANTINE_LIFTED)
    assert {entry.target_member_id for entry in entries} == {
        member.pk for member in (root, a, b, a1, a2, b2)
    }
    assert b1.pk not in {n.member_id for n in Notification.objects.all()}
    # A later decision keeps them active: nothing of the quarantines is left in force.
    do_warn_member(member=a1, moderator=moderator, reason="Tone")
    assert statuses([a1]) == ["active"]


@pytest.mark.parametrize(
    "action",
    [BranchAction.QUARANTINE, BranchAction.LIFT_QUARANTINE, BranchAction.BAN,
     BranchAction.SUSPEND_INVITES],
)
def test_a_branch_action_takes_the_same_queries_whatever_the_branch_size(
    moderator: Member, founder: Member, action: BranchAction
) -> None:
    def queries_for(size: int) -> int:
        inviter = make_member(invited_by=founder)
        root = make_member(invited_by=inviter)
        for _ in range(size):
            invitee = make_member(invited_by=root)
            Invitation.objects.create(
                inviter=invitee, phone_masked="+7 916 ***-**-01",
                token_digest=secrets.token_hex(32), expires_at=clock_module.now() + DAY,
            )
        if action == BranchAction.LIFT_QUARANTINE:
            apply(moderator, root, BranchAction.QUARANTINE)
        preview = preview_branch_action(moderator=moderator, root=root, action=action)
        with CaptureQueriesContext(connection) as seen:
            applied = do_apply_branch_action(
                moderator=moderator, root=root, action=action, digest=preview.digest,
                reason="Spam",
            )
        assert applied.affected == size + 1
        return len(seen)

    assert queries_for(2) == queries_for(7)


def test_a_branch_suspension_replaces_the_suspensions_that_end_sooner(
    moderator: Member, branch: list[Member], clock: FrozenClock
) -> None:
    root, a, b, a1, _a2, _b1, b2 = branch
    now = clock.current
    do_suspend_invite_rights(member=a, moderator=moderator, reason="Cool off", ends_at=now + DAY)
    do_suspend_invite_rights(
        member=a1, moderator=moderator, reason="Longer", ends_at=now + 30 * DAY
    )
    do_suspend_invite_rights(member=b2, moderator=moderator, reason="For good")
    in_ten_days = now + 10 * DAY
    dated = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES, ends_at=in_ten_days
    )
    indefinite = preview_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES
    )
    # Left alone: suspensions lasting at least as long as the new one (A1's 30 days
    # against 10, B2's without end); A's single day does not.
    assert (dated.affected, indefinite.affected) == (3, 4)
    # The digest is the branch as it is, whatever end date the moderator then picks.
    assert dated.digest == indefinite.digest
    applied = do_apply_branch_action(
        moderator=moderator, root=root, action=BranchAction.SUSPEND_INVITES,
        digest=indefinite.digest, reason="Ring", ends_at=in_ten_days,
    )
    assert applied.affected == dated.affected
    assert set(
        Sanction.objects.filter(reason="Ring").values_list("member_id", flat=True)
    ) == {root.pk, a.pk, b.pk}
    # An indefinite suspension now replaces everything but B2's.
    apply(moderator, root, BranchAction.SUSPEND_INVITES, reason="Ring, for good")
    assert set(
        Sanction.objects.filter(reason="Ring, for good").values_list("member_id", flat=True)
    ) == {root.pk, a.pk, b.pk, a1.pk}
    clock.advance(days=40)
    assert [suspension_state(member) for member in (root, a, b, a1, b2)] == ["failed"] * 5


def test_a_mistaken_branch_ban_takes_back_the_strike_on_the_roots_inviter(
    founder: Member, clock: FrozenClock
) -> None:
    inviter = make_member(display_name="Inviter", invited_by=founder)
    root = make_member(display_name="Root", invited_by=inviter)
    make_member(display_name="Child", invited_by=root)
    apply(founder, root, BranchAction.BAN, reason="Ring")
    strike = Strike.objects.get(member=inviter, invitee=root)
    assert strike.withdrawn_at is None
    ban = Sanction.objects.get(member=root, kind=SanctionKind.BAN)
    do_lift_sanction(sanction_id=ban.id, moderator=founder, reason="Wrong branch")
    strike.refresh_from_db()
    assert strike.withdrawn_at == clock.current


def test_a_moderator_banning_a_branch_under_a_founder_strikes_nobody(
    moderator: Member, founder: Member
) -> None:
    root = make_member(display_name="Root", invited_by=founder)
    apply(moderator, root, BranchAction.BAN)
    assert not Strike.objects.exists()
    # Told, as any inviter of a member banned for spam, that they got no strike.
    assert list(Notification.objects.filter(member=founder).values_list("kind", flat=True)) == [
        NotificationKind.INVITEE_BANNED_NO_STRIKE
    ]


def test_a_branch_ban_puts_back_the_requests_its_members_granted(
    moderator: Member, branch: list[Member], founder: Member, clock: FrozenClock
) -> None:
    """The invitations a branch ban revokes put the requests they were sent on back on
    the list, as their inviters' own revocations would (one UPDATE for the branch)."""
    from inviteonly.invitation_requests.actions import (
        do_grant_invitation_request,
        do_request_invitation,
    )
    from inviteonly.invitation_requests.models import InvitationRequest
    from inviteonly.invitation_requests.queries import open_requests_for

    _root, a, _b, a1, _a2, _b1, _b2 = branch
    # Members long enough to invite.
    Member.objects.filter(pk__in=[a.pk, a1.pk]).update(joined_at=clock.current - 60 * DAY)
    requests = [
        do_request_invitation(phone=new_ru_number(), note="Please", language="en").request
        for _ in range(4)
    ]
    for granter, request in zip([a, a1, founder], requests, strict=False):
        do_grant_invitation_request(member=granter, request_id=request.id)
    clock.advance(hours=1)
    apply(moderator, a, BranchAction.BAN)
    assert {request.id for request in open_requests_for(founder)} == {
        requests[0].id, requests[1].id, requests[3].id
    }
    put_back = InvitationRequest.objects.filter(id__in=[requests[0].id, requests[1].id])
    assert {
        (request.granted_at, request.granted_by_id, request.invitation_id,
         request.invitation_withdrawn_at)
        for request in put_back
    } == {(None, None, None, clock.current)}
    founders = InvitationRequest.objects.get(id=requests[2].id)
    assert founders.granted_by_id == founder.pk and founders.invitation_withdrawn_at is None
    assert Invitation.objects.filter(revoked_at=clock.current).count() == 2
