"""Reading a member's notifications, with their text in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from inviteonly.accounts.models import Member
from inviteonly.notifications.models import Notification, NotificationKind

RECENT_LIMIT = 20


@dataclass(frozen=True)
class NotificationView:
    id: int
    kind: str
    text: str
    created_at: datetime
    unread: bool


def _text_of(notification: Notification) -> str:
    if notification.kind == NotificationKind.INVITEE_JOINED and notification.subject:
        return _("%(name)s accepted your invitation and joined.") % {
            "name": notification.subject.display_name
        }
    if notification.kind == NotificationKind.FRIEND_REQUEST and notification.subject:
        return _("%(name)s wants to be your friend.") % {"name": notification.subject.display_name}
    if notification.kind == NotificationKind.FRIEND_ACCEPTED and notification.subject:
        return _("%(name)s accepted your friend request.") % {
            "name": notification.subject.display_name
        }
    if notification.kind == NotificationKind.PASSWORD_RECOVERED:
        return _(
            "Your password was reset with an SMS code and you were logged out everywhere. "
            "If this was not you, recover your account right away."
        )
    return str(NotificationKind(notification.kind).label)


def recent_notifications(member: Member, *, limit: int = RECENT_LIMIT) -> list[NotificationView]:
    rows = (
        Notification.objects.filter(member=member)
        .select_related("subject")
        .order_by("-created_at", "-id")[:limit]
    )
    return [
        NotificationView(
            id=row.id,
            kind=row.kind,
            text=_text_of(row),
            created_at=row.created_at,
            unread=row.read_at is None,
        )
        for row in rows
    ]
