"""Branch quarantines and bans used to set ``Member.status`` without a ``Sanction``, and
a branch's "lift the quarantine" set members active while their own quarantine stayed
in force. Statuses are now derived from the sanctions in force, so the rows those
actions left behind are put right, from their audit entries:

- a member quarantined or banned by a branch action, without the sanction in force,
  gets it (the moderator, reason and moment of the latest such audit entry);
- a quarantine left in force under an active member whose branch quarantine was lifted
  after it began ends then, by that moderator, as a mistake (what lifting a branch's
  quarantine does now);
- a strike whose invitee's bans were all declared mistakes is withdrawn when the last
  of them ended (strikes now stop counting then).

A status that no branch action explains (set in the admin) is left as it is. Reads
only the rows concerned; runs once.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations
from django.db.models import Exists, Max, OuterRef, Q, Subquery
from django.utils import timezone


def _in_force(now: Any) -> Q:
    return Q(ended_at__isnull=True) & (Q(ends_at__isnull=True) | Q(ends_at__gt=now))


def _latest_entries(audit_entries: Any, *, action: str, member_ids: Any) -> dict[int, Any]:
    latest: dict[int, Any] = {}
    entries = audit_entries.filter(action=action, target_member_id__in=member_ids).order_by(
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

    for status, kind, action in (
        ("quarantined", "quarantine", "branch_quarantined"),
        ("banned", "ban", "branch_banned"),
    ):
        unexplained = member_model.objects.filter(status=status).exclude(
            Exists(sanctions.filter(_in_force(now), member_id=OuterRef("id"), kind=kind))
        )
        latest = _latest_entries(
            audit_entries, action=action, member_ids=unexplained.values("id")
        )
        sanctions.bulk_create(
            [
                sanctions.model(
                    member_id=member_id, kind=kind, reason=_reason(entry), for_spam=False,
                    moderator_id=entry.actor_id, created_at=entry.created_at,
                )
                for member_id, entry in latest.items()
            ],
            batch_size=1000,
        )

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
