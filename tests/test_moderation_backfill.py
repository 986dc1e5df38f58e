"""Migration moderation.0004 puts right the rows branch actions left before statuses
were derived from sanctions: statuses without a sanction, quarantines left in force
under a lifted branch, strikes of bans declared mistakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.lib import clock
from inviteonly.moderation.actions import do_warn_member
from inviteonly.moderation.models import Sanction, SanctionKind, Strike
from tests.conftest import make_member, migrate

BEFORE = ("moderation", "0003_strike_withdrawn_at")
DAY = timedelta(days=1)


@pytest.fixture
def before_the_backfill(transactional_db: None) -> Iterator[None]:
    migrate(BEFORE)
    yield
    migrate()


def legacy_status(member: Member, status: str) -> None:
    Member.objects.filter(pk=member.pk).update(status=status)


def branch_entry(action: AuditAction, *, actor: Member, member: Member, reason: str,
                 at: datetime) -> AuditEntry:
    return AuditEntry.objects.create(
        action=action, actor=actor, target_member=member, created_at=at,
        details={"reason": reason, "branch_root": member.pk},
    )


@pytest.mark.usefixtures("before_the_backfill")
def test_the_backfill_gives_branch_statuses_their_sanctions_and_ends_what_was_lifted() -> None:
    now = clock.now()
    moderator = make_member(role=Member.Role.MODERATOR, display_name="Mod")
    banned, quarantined, by_admin = make_member(), make_member(), make_member()
    legacy_status(banned, Member.Status.BANNED)
    branch_entry(AuditAction.BRANCH_BANNED, actor=moderator, member=banned, reason="Ring",
                 at=now - 3 * DAY)
    legacy_status(quarantined, Member.Status.QUARANTINED)
    branch_entry(AuditAction.BRANCH_QUARANTINED, actor=moderator, member=quarantined,
                 reason="Earlier wave", at=now - 9 * DAY)
    branch_entry(AuditAction.BRANCH_QUARANTINE_LIFTED, actor=moderator, member=quarantined,
                 reason="Reviewed", at=now - 8 * DAY)
    branch_entry(AuditAction.BRANCH_QUARANTINED, actor=moderator, member=quarantined,
                 reason="Second wave", at=now - 2 * DAY)
    legacy_status(by_admin, Member.Status.BANNED)  # no branch action explains it
    # Banned with a branch, then warned: the warning set the status from the sanctions
    # alone and let them back in (the defect this migration follows).
    let_back_in = make_member()
    branch_entry(AuditAction.BRANCH_BANNED, actor=moderator, member=let_back_in,
                 reason="Ring", at=now - 3 * DAY)
    Sanction.objects.create(
        member=let_back_in, kind=SanctionKind.WARN, reason="Noted", moderator=moderator,
        created_at=now - 2 * DAY, ends_at=now - 2 * DAY,
    )
    # Quarantined with a branch, then a moderator ended a quarantine of theirs: released.
    released = make_member()
    branch_entry(AuditAction.BRANCH_QUARANTINED, actor=moderator, member=released,
                 reason="Wave", at=now - 3 * DAY)
    AuditEntry.objects.create(
        action=AuditAction.SANCTION_LIFTED, actor=moderator, target_member=released,
        created_at=now - 2 * DAY, details={"reason": "Reviewed"},
    )
    # Quarantined alone, then set active by a branch's "lift the quarantine".
    lifted = make_member()
    own = Sanction.objects.create(
        member=lifted, kind=SanctionKind.QUARANTINE, reason="Links", moderator=moderator,
        created_at=now - 5 * DAY,
    )
    branch_entry(AuditAction.BRANCH_QUARANTINE_LIFTED, actor=moderator, member=lifted,
                 reason="False alarm", at=now - DAY)
    # A strike whose ban was declared a mistake, and one whose ban stands.
    inviter = make_member()
    wrongly, spammer = make_member(invited_by=inviter), make_member(invited_by=inviter)
    Sanction.objects.create(
        member=wrongly, kind=SanctionKind.BAN, reason="Spam?", for_spam=True,
        moderator=moderator, created_at=now - 4 * DAY, upheld=False, ended_at=now - 2 * DAY,
    )
    Sanction.objects.create(
        member=spammer, kind=SanctionKind.BAN, reason="Spam", for_spam=True,
        moderator=moderator, created_at=now - 4 * DAY,
    )
    for invitee in (wrongly, spammer):
        Strike.objects.create(member=inviter, invitee=invitee, reason="Spam",
                              created_at=now - 4 * DAY)

    migrate(("moderation", "0004_sanctions_for_branch_actions"))

    assert list(Sanction.objects.filter(member=banned).values_list(
        "kind", "reason", "moderator_id", "created_at", "ended_at"
    )) == [(SanctionKind.BAN, "Ring", moderator.pk, now - 3 * DAY, None)]
    assert list(Sanction.objects.filter(member=quarantined).values_list("kind", "reason")) == [
        (SanctionKind.QUARANTINE, "Second wave")
    ]
    assert not Sanction.objects.filter(member=by_admin).exists()
    assert list(Sanction.objects.filter(member=let_back_in, kind=SanctionKind.BAN).values_list(
        "reason", "created_at"
    )) == [("Ring", now - 3 * DAY)]
    assert Member.objects.get(pk=let_back_in.pk).status == Member.Status.BANNED
    assert not Sanction.objects.filter(member=released).exists()
    assert Member.objects.get(pk=released.pk).status == Member.Status.ACTIVE
    own.refresh_from_db()
    assert (own.ended_at, own.ended_by_id, own.end_reason, own.upheld) == (
        now - DAY, moderator.pk, "False alarm", False
    )
    assert dict(Strike.objects.values_list("invitee_id", "withdrawn_at")) == {
        wrongly.pk: now - 2 * DAY, spammer.pk: None
    }
    # A later decision now keeps the branch's ban.
    do_warn_member(member=banned, moderator=moderator, reason="Noted")
    banned.refresh_from_db()
    assert banned.status == Member.Status.BANNED
