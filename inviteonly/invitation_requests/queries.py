"""Reading requests: the members' list (no contact details) and the requester's status."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, QuerySet

from inviteonly.accounts.models import Member
from inviteonly.invitation_requests.actions import request_not_found, status_token_digest
from inviteonly.invitation_requests.models import InvitationRequest, Vouch
from inviteonly.invitations.rights import check_can_invite
from inviteonly.lib import clock


def open_requests_for(member: Member) -> QuerySet[InvitationRequest]:
    """Requests waiting for a member, most vouched for first, then the longest waiting;
    each with ``vouch_count`` and ``vouched_by_me``. Only for members who may invite;
    the number is never selected, nor does the list depend on it (a member's number is
    listed like any other; granting it answers alike and sends nothing)."""
    check_can_invite(member, allowance_needed=False)
    return (
        InvitationRequest.objects.filter(
            listed=True, granted_at__isnull=True, expires_at__gt=clock.now()
        )
        .only("id", "region", "language", "note", "created_at", "expires_at")
        .annotate(
            vouch_count=Count("vouches"),
            vouched_by_me=Exists(Vouch.objects.filter(request=OuterRef("pk"), member=member)),
        )
        .order_by("-vouch_count", "created_at", "id")
    )


def access_request_by_status_token(token: str) -> InvitationRequest:
    request = InvitationRequest.objects.select_related("invitation").filter(
        status_token_digest=status_token_digest(token or "")
    ).first()
    if request is None:
        raise request_not_found()
    return request
