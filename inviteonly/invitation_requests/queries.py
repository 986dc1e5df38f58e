"""Reading requests: the members' list (no contact details) and the requester's status."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from inviteonly.accounts.models import Member
from inviteonly.invitation_requests.actions import request_not_found, status_token_digest
from inviteonly.invitation_requests.models import InvitationRequest, Vouch
from inviteonly.invitations.rights import check_can_invite
from inviteonly.lib import clock
from inviteonly.social.queries import NO_CURSOR, cursor_micros, keyset_page, moment_in_cursor


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


@dataclass(frozen=True)
class RequestCursor:
    """Where a page of ``open_requests_for`` ends: its last request's place in the
    list's order (vouches, descending; then ``created_at`` and id). The next page
    starts after it, so a request granted or put back on the list (its invitation
    revoked) between two pages neither repeats nor skips another, as an offset did.
    One vouched for meanwhile moves up, as it does in the list."""

    vouches: int
    created_at: datetime
    id: int

    # In a URL: "<vouches>-<microseconds since 1970>-<id>", ASCII digits only (bound
    # so that each part fits PostgreSQL's columns, and no NUL reaches it).
    PATTERN: ClassVar[str] = r"^[0-9]{1,9}-[0-9]{1,16}-[0-9]{1,19}$"

    @staticmethod
    def after(request: InvitationRequest) -> RequestCursor:
        return RequestCursor(vouches=request.vouch_count,  # type: ignore[attr-defined]
                             created_at=request.created_at, id=request.id)

    @staticmethod
    def parse(text: str | None) -> RequestCursor | None:
        """The cursor ``str`` wrote; None for anything else."""
        if text is None or not re.fullmatch(RequestCursor.PATTERN, text):
            return None
        vouches, micros, row_id = text.split("-")
        return RequestCursor(vouches=int(vouches), created_at=moment_in_cursor(int(micros)),
                             id=min(int(row_id), NO_CURSOR))  # past every id is past them all

    def __str__(self) -> str:
        return f"{self.vouches}-{cursor_micros(self.created_at)}-{self.id}"


def open_requests_page(
    member: Member, *, after: RequestCursor | None, limit: int
) -> tuple[list[InvitationRequest], RequestCursor | None]:
    """Up to ``limit`` of ``open_requests_for`` after ``after`` (None: from the first),
    and the next page's cursor (None on the last)."""
    requests = open_requests_for(member)
    if after is not None:
        # On the vouch count, a condition on the grouped rows (HAVING).
        requests = requests.filter(
            Q(vouch_count__lt=after.vouches)
            | Q(vouch_count=after.vouches, created_at__gt=after.created_at)
            | Q(vouch_count=after.vouches, created_at=after.created_at, id__gt=after.id)
        )
    return keyset_page(list(requests[:limit + 1]), limit, cursor=RequestCursor.after)


def access_request_by_status_token(token: str) -> InvitationRequest:
    request = InvitationRequest.objects.select_related("invitation").filter(
        status_token_digest=status_token_digest(token or "")
    ).first()
    if request is None:
        raise request_not_found()
    return request
