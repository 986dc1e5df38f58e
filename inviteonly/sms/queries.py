"""Reads of the SMS outbox for operators: what went where, and what it cost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, Sum

from inviteonly.sms.models import OutboundSms, SmsStatus


@dataclass(frozen=True)
class DeliveryCounts:
    region: str
    gateway: str
    messages: int
    segments: int
    delivered: int
    sent: int
    failed: int
    waiting: int


def delivery_counts(*, since: datetime) -> list[DeliveryCounts]:
    """Messages, segments (what the operator pays for) and outcomes per country and
    gateway, for messages queued since ``since``. Suppressed messages never left, so
    they are not counted."""
    rows = (
        OutboundSms.objects.filter(created_at__gte=since)
        .exclude(suppressed=True)
        .values("region", "gateway")
        .annotate(
            messages=Count("id"),
            segments=Sum("segments"),
            delivered=Count("id", filter=Q(status=SmsStatus.DELIVERED)),
            sent=Count("id", filter=Q(status=SmsStatus.SENT)),
            failed=Count("id", filter=Q(status=SmsStatus.FAILED)),
            waiting=Count("id", filter=Q(status__in=[SmsStatus.QUEUED, SmsStatus.SENDING])),
        )
        .order_by("region", "gateway")
    )
    return [
        DeliveryCounts(
            region=row["region"] or "?", gateway=row["gateway"] or "-",
            messages=row["messages"], segments=row["segments"] or 0,
            delivered=row["delivered"], sent=row["sent"], failed=row["failed"],
            waiting=row["waiting"],
        )
        for row in rows
    ]
