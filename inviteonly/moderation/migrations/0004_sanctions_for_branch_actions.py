"""Branch quarantines and bans used to set ``Member.status`` without a ``Sanction``, and
a branch's "lift the quarantine" set members active while their own quarantine stayed
in force. Statuses are now derived from the sanctions in force, so the rows those
actions left behind are put right, from their audit entries:

- a member quarantined or banned by a branch action, without the sanction in force,
  gets it (the moderator, reason and moment of the latest such audit entry) unless a
  sanction of theirs was lifted, or their branch's quarantine, after that entry —
  whatever their status now: a later decision about them set it from their sanctions
  alone, and so let some of them back in — and their status is set from their
  sanctions again;
- a quarantine left in force under an active member whose branch quarantine was lifted
  after it began ends then, by that moderator, as a mistake (what lifting a branch's
  quarantine does now);
- a strike whose invitee's bans were all declared mistakes is withdrawn when the last
  of them ended (strikes now stop counting then).

A status that no branch action explains (set in the admin) is left as it is. Reads
only the rows concerned; runs once.

The status expression is moderation.actions.sanctioned_status, restated over the
historical models (a migration must not import the app's code).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations
from django.db.models import Case, Exists, Max, OuterRef, Q, Subquery, Value, When
from django.utils import timezone


def _in_force(now: Any) -> Q:
    return Q(ended_at__isnull=True) & (Q(ends_at__isnull=True) | Q(ends_at__gt=now))


def _latest_entries(
    audit_entries: Any, *, action: str | None, member_ids: Any
) -> dict[int, Any]:
    """Each member's latest audit entry (of ``action``, if given)."""
    latest: dict[int, Any] = {}
    if action is not None:
        audit_entries = audit_entries.filter(action=action)
    entries = audit_entries.filter(target_member_id__in=member_ids).order_by(
        "target_member_id", "-created_at", "-id"
    )
    for entry in entries.iterator():
        latest.setdefault(entry.target_member_id, entry)
    return latest


def _reason(entry: Any) -> str:
    return str(entry.details.get("reason") or "")[: settings.MODERATION_REASON_MAX_LENGTH]


def backfill(apps: Any, schema_editor: Any) -> None:
    member_model = apps.get_model("accounts", "Member")
    sanctions = apps.get_model("moderation", "Sanction").objects
    strikes = apps.get_model("moderation", "Strike").objects
    audit_entries = apps.get_model("audit_log", "AuditEntry").objects
    now = timezone.now()

    touched: set[int] = set()
    for kind, action, releases in (
        ("quarantine", "branch_quarantined", ("branch_quarantine_lifted", "sanction_lifted")),
        ("ban", "branch_banned", ("sanction_lifted",)),
    ):
        branch_members = audit_entries.filter(action=action).values("target_member_id")
        unexplained = member_model.objects.filter(id__in=branch_members).exclude(
            Exists(sanctions.filter(_in_force(now), member_id=OuterRef("id"), kind=kind))
        )
        latest = _latest_entries(
            audit_entries, action=action, member_ids=unexplained.values("id")
        )
        released = _latest_entries(
            audit_entries.filter(action__in=releases), action=None, member_ids=list(latest)
        )
        owed = {
            member_id: entry for member_id, entry in latest.items()
            if member_id not in released or released[member_id].created_at < entry.created_at
        }
        sanctions.bulk_create(
            [
                sanctions.model(
                    member_id=member_id, kind=kind, reason=_reason(entry), for_spam=False,
                    moderator_id=entry.actor_id, created_at=entry.created_at,
                )
                for member_id, entry in owed.items()
            ],
            batch_size=1000,
        )
        touched |= set(owed)

    left_in_force = sanctions.filter(
        _in_force(now), kind="quarantine", member__status="active"
    )
    lifts = _latest_entries(
        audit_entries, action="branch_quarantine_lifted",
        member_ids=left_in_force.values("member_id"),
    )
    for sanction in left_in_force:
        entry = lifts.get(sanction.member_id)
        if entry is not None and entry.created_at >= sanction.created_at:
            sanction.ended_at = entry.created_at
            sanction.ended_by_id = entry.actor_id
            sanction.end_reason = _reason(entry)
            sanction.upheld = False
            sanction.save(update_fields=["ended_at", "ended_by", "end_reason", "upheld"])

    def in_force(kind: str) -> Exists:
        return Exists(sanctions.filter(_in_force(now), member_id=OuterRef("id"), kind=kind))

    # A banned status is never lowered here (an administrator may have set it).
    member_model.objects.filter(id__in=touched).exclude(status="banned").update(
        status=Case(
            When(in_force("ban"), then=Value("banned")),
            When(in_force("quarantine"), then=Value("quarantined")),
            default=Value("active"),
        )
    )
    # As a ban does now: whoever was let back in is logged out everywhere.
    apps.get_model("accounts", "MemberSession").objects.filter(
        member_id__in=touched, member__status="banned"
    ).delete()

    bans = sanctions.filter(member_id=OuterRef("invitee_id"), kind="ban")
    mistaken = strikes.filter(withdrawn_at__isnull=True).exclude(
        Exists(bans.filter(upheld=True))
    ).annotate(
        last_ended=Subquery(
            bans.filter(upheld=False).values("member_id")
            .annotate(last=Max("ended_at")).values("last")
        )
    ).filter(last_ended__isnull=False)
    for strike in mistaken:
        strike.withdrawn_at = strike.last_ended
        strike.save(update_fields=["withdrawn_at"])


class Migration(migrations.Migration):

    dependencies = [
        ("moderation", "0003_strike_withdrawn_at"),
        ("accounts", "0005_move_django_sessions"),
        ("audit_log", "0006_report_actions"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
