"""Creating and reading notifications."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from inviteonly.accounts.models import Member
from inviteonly.lib import clock
from inviteonly.lib.queries import insert_later
from inviteonly.notifications.models import Notification, NotificationKind
from inviteonly.notifications.queries import NotificationView, recent_notifications
from inviteonly.social.queries import keyset_page


def notify_member(
    member: Member,
    kind: NotificationKind,
    *,
    subject: Member | None = None,
    reason: str = "",
    until: datetime | None = None,
) -> Notification | None:
    """The notice, written with the action's other rows; none for a member who left
    the network (accounts.actions.do_leave_network erased theirs, and nobody reads
    it): a decision about them, their invitee or their report still notifies others.
    The callers pass a member read in their transaction, most of them locked."""
    if member.status == Member.Status.LEFT:
        return None
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
    """The same notice to several members, in one INSERT; none to those who left the
    network (see ``notify_member``)."""
    if not member_ids:
        return []
    now = clock.now()
    staying = Member.objects.filter(id__in=set(member_ids)).exclude(status=Member.Status.LEFT)
    return Notification.objects.bulk_create([
        Notification(member_id=member_id, kind=kind, subject=subject, reason=reason,
                     created_at=now)
        for member_id in sorted(staying.values_list("id", flat=True))
    ])


def withdraw_unread_notices(
    kind: NotificationKind, *, subject_id: int, member_ids: Iterable[int] | QuerySet[Any]
) -> None:
    """Delete the unread notices of ``kind`` about ``subject_id`` to ``member_ids`` (ids,
    or a query of them): what they told of is no more (a friend request taken back,
    ended by a block or by its sender leaving). One already read stays, as history.
    Runs in the caller's transaction."""
    Notification.objects.filter(
        kind=kind, subject_id=subject_id, member_id__in=member_ids, read_at__isnull=True
    ).delete()


def do_show_notifications(
    *, member: Member, before_id: int | None, limit: int
) -> tuple[list[NotificationView], int | None]:
    """A page of the member's notifications to show (``recent_notifications``: newest
    first by id, older than ``before_id``) and the next page's cursor; those shown for
    the first time are marked shown, with one UPDATE (none when every one was shown
    before)."""
    rows, next_before = keyset_page(
        recent_notifications(member, before_id=before_id, limit=limit + 1), limit
    )
    first_shown = [row.id for row in rows if not row.shown]
    if first_shown:
        Notification.objects.filter(
            member=member, id__in=first_shown, shown_at__isnull=True
        ).update(shown_at=clock.now())
    return rows, next_before


def do_mark_notifications_read(*, member: Member, up_to: int | None = None) -> int:
    """Mark the member's notifications read: those up to the id ``up_to`` (the newest
    the member was shown), or all — but only those a list showed them
    (``do_show_notifications``). One that arrived after the list was shown stays
    unread: a warning (the password changed, the account moved) is not marked read
    unseen, neither a newer one nor one with a lower id that a slower transaction
    committed after the list was read (an id is drawn when the row is written, not
    when it commits). How many were marked."""
    unread = Notification.objects.filter(
        member=member, read_at__isnull=True, shown_at__isnull=False
    )
    if up_to is not None:
        unread = unread.filter(id__lte=up_to)
    return unread.update(read_at=clock.now())
