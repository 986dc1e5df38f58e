"""Reading a member's notifications, with their text in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from inviteonly.accounts.models import Member
from inviteonly.lib.time_zones import shown_date
from inviteonly.notifications.models import Notification, NotificationKind
from inviteonly.social.queries import before

RECENT_LIMIT = 20


@dataclass(frozen=True)
class NotificationView:
    id: int
    kind: str
    text: str
    created_at: datetime
    unread: bool
    # Listed before (notifications.actions.do_show_notifications marks it so).
    shown: bool


def _until(notification: Notification) -> str:
    if notification.until is None:
        return ""
    return " " + _("Until %(date)s.") % {"date": shown_date(notification.until)}


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
    if notification.kind == NotificationKind.PASSWORD_CHANGED:
        return _(
            "Your password was changed and you were logged out on your other devices. "
            "If this was not you, recover your account right away."
        )
    if notification.kind == NotificationKind.PHONE_CHANGED:
        return _(
            "Your account moved to a new mobile number: log in and recover your password "
            "with it from now on. You were logged out everywhere else, and the old number "
            "was told by SMS."
        )
    if notification.kind == NotificationKind.INVITEE_BANNED and notification.subject:
        return _(
            "%(name)s, whom you invited, was banned for spam. The moderator's reason: "
            "%(reason)s. You got a strike: too many strikes suspend your invite rights."
        ) % {"name": notification.subject.display_name, "reason": notification.reason}
    if notification.kind == NotificationKind.INVITEE_BANNED_NO_STRIKE and notification.subject:
        return _(
            "%(name)s, whom you invited, was banned for spam. The moderator's reason: "
            "%(reason)s."
        ) % {"name": notification.subject.display_name, "reason": notification.reason}
    if notification.kind == NotificationKind.INVITE_RIGHTS_SUSPENDED:
        if not notification.reason and notification.until:  # by the strike rule
            return _(
                "People you invited were banned for spam, so your invite rights are "
                "suspended until %(date)s."
            ) % {"date": shown_date(notification.until)}
        return _("A moderator suspended your invite rights: %(reason)s.") % {
            "reason": notification.reason
        } + _until(notification)
    if notification.kind == NotificationKind.INVITE_RIGHTS_GRANTED:
        return _("A moderator granted you invite rights: %(reason)s.") % {
            "reason": notification.reason
        } + _until(notification)
    if notification.kind == NotificationKind.INVITE_RIGHTS_GRANT_WITHDRAWN:
        return _(
            "A moderator withdrew the invite rights they had granted you: %(reason)s. Your "
            "invite rights now follow the rules shown on the invite page."
        ) % {"reason": notification.reason}
    if notification.kind == NotificationKind.REQUEST_INVITATION_UNDELIVERED:
        # No number, not even masked: a granter never learns whose request it was.
        return _(
            "The SMS with the invitation you sent on a request could not be delivered. "
            "The invitation is revoked, and if it used one of your invitations, you have "
            "it back. The person who asked is told to check their number and ask again."
        )
    if notification.kind == NotificationKind.WARNED:
        return _("A moderator warned you: %(reason)s.") % {"reason": notification.reason}
    if notification.kind == NotificationKind.QUARANTINED:
        return _(
            "A moderator quarantined your account until they review it: %(reason)s. Until "
            "then you cannot invite."
        ) % {"reason": notification.reason}
    if notification.kind == NotificationKind.SANCTION_LIFTED:
        return _("A moderator ended a sanction on your account: %(reason)s.") % {
            "reason": notification.reason
        }
    if notification.kind in _ROLE_CHANGES:
        return _ROLE_CHANGES[NotificationKind(notification.kind)]() % {
            "reason": notification.reason
        }
    if notification.kind in _REPORT_OUTCOMES and notification.subject:
        text = _REPORT_OUTCOMES[NotificationKind(notification.kind)]() % {
            "name": notification.subject.display_name
        }
        if notification.reason:
            text += " " + _("The moderator's reason: %(reason)s.") % {
                "reason": notification.reason
            }
        return text
    return str(NotificationKind(notification.kind).label)


# What a member is told when an operator changed their role (translated when read).
_ROLE_CHANGES = {
    NotificationKind.ROLE_FOUNDER: lambda: _(
        "An administrator made you a founder: %(reason)s. You now have the admin and may "
        "invite without limits."
    ),
    NotificationKind.ROLE_MODERATOR: lambda: _(
        "An administrator made you a moderator: %(reason)s. You now review reports and may "
        "invite without limits."
    ),
    NotificationKind.ROLE_MEMBER: lambda: _(
        "An administrator made you a member again: %(reason)s. Your invite rights now "
        "follow the rules shown on the invite page."
    ),
}


# What a reporter is told when a moderator resolved their report (translated when read).
_REPORT_OUTCOMES = {
    NotificationKind.REPORT_DISMISSED: lambda: _(
        "A moderator reviewed your report about %(name)s and found nothing to act on."
    ),
    NotificationKind.REPORT_CONTENT_REMOVED: lambda: _(
        "A moderator reviewed your report about %(name)s and removed the content. Thank you."
    ),
    NotificationKind.REPORT_AUTHOR_WARNED: lambda: _(
        "A moderator reviewed your report, removed the content and warned %(name)s. "
        "Thank you."
    ),
    NotificationKind.REPORT_AUTHOR_QUARANTINED: lambda: _(
        "A moderator reviewed your report, removed the content and quarantined %(name)s. "
        "Thank you."
    ),
    NotificationKind.REPORT_AUTHOR_BANNED: lambda: _(
        "A moderator reviewed your report, removed the content and banned %(name)s. "
        "Thank you."
    ),
}


# Notices of what a member did towards the reader (asking to be friends, accepting):
# left out while that member is banned, as their friend requests and friendships are
# (social.queries), and back when the ban is lifted. Those about the ban itself name
# the banned member on purpose.
_LEFT_OUT_WHILE_BANNED = (NotificationKind.FRIEND_REQUEST, NotificationKind.FRIEND_ACCEPTED)


def recent_notifications(
    member: Member, *, before_id: int | None = None, limit: int = RECENT_LIMIT
) -> list[NotificationView]:
    """Up to ``limit`` of the member's notifications older than ``before_id`` (None: the
    newest; ``_LEFT_OUT_WHILE_BANNED`` left out), newest first by id (index
    ``notification_newest``): the order in which ``do_mark_notifications_read`` marks
    "up to" one of them. Not by time: a notice is timed when its action starts,
    numbered when it is written."""
    rows = (
        Notification.objects.filter(member=member)
        .exclude(kind__in=_LEFT_OUT_WHILE_BANNED, subject__status=Member.Status.BANNED)
        .select_related("subject")
        .order_by("-id")
    )
    return [
        NotificationView(
            id=row.id,
            kind=row.kind,
            text=_text_of(row),
            created_at=row.created_at,
            unread=row.read_at is None,
            shown=row.shown_at is not None,
        )
        for row in before(rows, before_id)[:limit]
    ]
