"""A granted request whose invitation is revoked waits again: its inviter's revocation
(invitations.actions) and a ban's, of one member (moderation.actions) or of a branch
(invitations.branch_actions), all put the requests back through here. It imports only
models, so that the moderation actions can use it."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Case, QuerySet, Value, When

from inviteonly.invitation_requests.models import InvitationRequest
from inviteonly.invitations.models import Invitation


def put_requests_back(invitations: QuerySet[Invitation], *, now: datetime) -> int:
    """The requests the just-revoked ``invitations`` were sent on wait again, with their
    vouches and age (listed while they are open), and their requesters' status pages
    say why their links are dead; returns how many. One UPDATE, however many
    invitations. An invitation that had expired before it was revoked leaves its
    request as expiry leaves any granted request."""
    return InvitationRequest.objects.filter(
        invitation__in=invitations.filter(expires_at__gt=now)
    ).update(
        granted_by=None,
        granted_at=None,
        invitation=None,
        invitation_withdrawn_at=now,
        listed=Case(When(expires_at__gt=now, then=Value(True)), default=Value(False)),
    )
