"""/api/reports and /api/moderation/reports: members report posts, messages and
profiles; moderators read the queue of reported items and decide on them."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import HttpRequest
from ninja import Path, Query, Router, Schema
from pydantic import Field

from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.profiles import MemberIdField, MemberIdPath
from inviteonly.api.schemas import ERRORS, RATE_LIMITED_ERRORS, MemberRef
from inviteonly.lib.converters import MAX_ROW_ID
from inviteonly.lib.web import client_ip
from inviteonly.moderation.actions import do_report_item, do_resolve_reports
from inviteonly.moderation.models import ReportDecision, ReportReason, ReportTarget
from inviteonly.moderation.queries import check_is_moderator, moderation_queue

router = Router(auth=session_bearer)


class ReportIn(Schema):
    target_kind: ReportTarget
    target_id: int = MemberIdField
    reason: ReportReason
    details: str = Field(default="", max_length=settings.REPORT_DETAILS_MAX_LENGTH)


class ReportOut(Schema):
    id: int
    target_kind: str
    target_id: int
    reason: str
    created_at: datetime


class QueueItemOut(Schema):
    target_kind: str
    target_id: int
    author: MemberRef
    author_status: str
    reports: int
    spam_reports: int
    excerpt: str
    newest_reason: str
    newest_details: str
    newest_at: datetime


class QueueOut(Schema):
    """The most recently reported first: an item reported or decided on between two
    pages neither repeats nor skips another."""

    items: list[QueueItemOut]
    # Ask for the next (older) page with ?before=<next_before>; null on the last page.
    next_before: int | None


class QueuePageIn(Schema):
    """A page of the queue: pass the previous page's ``next_before``."""

    before: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)


class ResolveIn(Schema):
    decision: ReportDecision
    reason: str = Field(max_length=settings.MODERATION_REASON_MAX_LENGTH)
    for_spam: bool = False


class ResolveOut(Schema):
    resolution: str
    resolved_reports: int


@router.post("/reports", response={201: ReportOut, **RATE_LIMITED_ERRORS},
             summary="Report a wall post, a message or a profile")
def report_item(request: HttpRequest, payload: ReportIn) -> tuple[int, ReportOut]:
    report = do_report_item(
        reporter=authenticated_member(request), target_kind=payload.target_kind.value,
        target_id=payload.target_id, reason=payload.reason.value, details=payload.details,
        ip_address=client_ip(request),
    )
    return 201, ReportOut(id=report.id, target_kind=report.target_kind,
                          target_id=report.target_id, reason=report.reason,
                          created_at=report.created_at)


@router.get("/moderation/reports", response={200: QueueOut, **ERRORS},
            summary="Reported items, the most recently reported first (moderators; "
                    "only items about members they may act on)")
def get_queue(request: HttpRequest, page: Query[QueuePageIn]) -> QueueOut:
    moderator = authenticated_member(request)
    check_is_moderator(moderator)
    items, next_before = moderation_queue(moderator, before=page.before)
    return QueueOut(items=[QueueItemOut(
        target_kind=item.target_kind, target_id=item.target_id,
        author=MemberRef(id=item.author.id, display_name=item.author.display_name),
        author_status=item.author.status, reports=item.reports,
        spam_reports=item.spam_reports, excerpt=item.newest.excerpt,
        newest_reason=item.newest.reason, newest_details=item.newest.details,
        newest_at=item.newest.created_at,
    ) for item in items], next_before=next_before)


@router.post("/moderation/reports/{target_kind}/{target_id}/resolve",
             response={200: ResolveOut, **ERRORS},
             summary="Decide on a reported item; resolves all its open reports")
def resolve_reports(
    request: HttpRequest, payload: ResolveIn, target_kind: Path[ReportTarget],
    target_id: int = MemberIdPath,
) -> ResolveOut:
    reports = do_resolve_reports(
        moderator=authenticated_member(request), target_kind=target_kind.value,
        target_id=target_id, decision=payload.decision.value, reason=payload.reason,
        for_spam=payload.for_spam, ip_address=client_ip(request),
    )
    return ResolveOut(resolution=reports[0].resolution, resolved_reports=len(reports))
