"""Creating and reading notifications."""

from __future__ import annotations

from datetime import datetime

from inviteonly.accounts.models import Member
from inviteonly.lib import clock
from inviteonly.lib.queries import insert_later
from inviteonly.notifications.models import Notification, NotificationKind


def notify_member(
    member: Member,
    kind: NotificationKind,
    *,
    subject: Member | None = None,
    reason: str = "",
    until: datetime | None = None,
) -> Notification:
    return insert_later(
        Notification(member=member, kind=kind, subject=subject, reason=reason, until=until)
    )


def notify_members(
    member_ids: list[int],
    kind: NotificationKind,
    *,
    subject: Member | None = None,
    reason: str = "",
) -> list[Notification]:
    """The same notice to several members, in one INSERT."""
    now = clock.now()
    return Notification.objects.bulk_create([
        Notification(member_id=member_id, kind=kind, subject=subject, reason=reason,
                     created_at=now)
        for member_id in dict.fromkeys(member_ids)
    ])


def do_mark_notifications_read(*, member: Member, up_to: int | None = None) -> int:
    """Mark the member's notifications read: those up to the id ``up_to`` (the newest
    the member was shown), or all. One that arrived after the list was shown stays
    unread: a warning (the password changed, the account moved) is not marked read
    unseen. How many were marked."""
    unread = Notification.objects.filter(member=member, read_at__isnull=True)
    if up_to is not None:
        unread = unread.filter(id__lte=up_to)
    return unread.update(read_at=clock.now())
