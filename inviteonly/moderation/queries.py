"""Reading sanctions, who may moderate whom, what a report is about, and the queue of
reported items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet
from django.utils.translation import gettext as _

from inviteonly.accounts.models import Member
from inviteonly.lib.errors import ActionError
from inviteonly.moderation.models import (
    Report,
    ReportReason,
    ReportTarget,
    Sanction,
    SanctionKind,
    Strike,
)
from inviteonly.social.models import Message, Participant, WallPost
from inviteonly.social.queries import page_before, visible_wall_owner
from inviteonly.social.rules import access_member

# A moderator acts on members; only a founder acts on a moderator; nobody here acts on
# a founder (operators use the admin).
_RANK = {Member.Role.MEMBER: 0, Member.Role.MODERATOR: 1, Member.Role.FOUNDER: 2}


def is_moderator(member: Member) -> bool:
    return member.role in (Member.Role.MODERATOR, Member.Role.FOUNDER) and (
        member.status == Member.Status.ACTIVE
    )


def _not_a_moderator() -> ActionError:
    return ActionError(
        "not_a_moderator", _("Only moderators and founders can do this."), status=403
    )


def check_is_moderator(actor: Member) -> None:
    if not is_moderator(actor):
        raise _not_a_moderator()


def roles_moderated_by(actor: Member) -> list[str]:
    """The roles ranked below the actor's: the members they may act on (none for a
    member)."""
    rank = _RANK[Member.Role(actor.role)]
    return [role.value for role, other in _RANK.items() if other < rank]


def may_moderate(actor: Member, member: Member) -> bool:
    return (
        is_moderator(actor) and actor.id != member.id
        and member.role in roles_moderated_by(actor)
    )


def moderation_refusal(actor: Member, member: Member) -> ActionError | None:
    """The refusal of any decision of ``actor`` about ``member`` (``may_moderate``),
    saying who decides instead, or None if they may. The actions refuse with it; the
    member's page shows it instead of offering forms that would be refused."""
    if may_moderate(actor, member):
        return None
    if not is_moderator(actor):
        return _not_a_moderator()
    if member.role == Member.Role.FOUNDER:
        return ActionError(
            "cannot_moderate",
            _("Nobody decides about a founder on these pages: an administrator changes "
              "a founder's role or status in the admin."),
            status=403,
        )
    # A moderator: the actor's equal, or the actor themselves; only a founder ranks above.
    return ActionError(
        "cannot_moderate", _("Only a founder can decide about a moderator."), status=403
    )


def check_can_moderate(actor: Member, member: Member) -> None:
    refusal = moderation_refusal(actor, member)
    if refusal is not None:
        raise refusal


def conflict_of_interest(moderator: Member, banned: Member) -> ActionError | None:
    """The refusal of ``moderator`` declaring a ban of ``banned`` a mistake, or None if
    they may. Declaring it withdraws the strike the ban gave the banned member's inviter
    and can end the inviter's strike-rule suspension: the inviter (whoever got the
    strike) does not decide it; another moderator or a founder does. A founder who
    invited the member may: no strike reaches a founder (nobody acts on one), and
    nobody ranks above them to decide instead. The action refuses with it; the
    member's page shows it instead of offering the decision."""
    inviter = moderator.id == banned.invited_by_id and moderator.role != Member.Role.FOUNDER
    if inviter or Strike.objects.filter(invitee_id=banned.id, member_id=moderator.id).exists():
        return ActionError(
            "conflict_of_interest",
            _("You invited this member: whether their ban was a mistake is not yours to "
              "decide. Another moderator or a founder can decide it."),
            status=403,
        )
    return None


def check_can_act_as_operator(actor: Member, member: Member) -> None:
    """Operators (administrators: founders are) change roles and statuses in the admin,
    on anyone but themselves: the only decisions that reach a founder."""
    if not actor.is_operator:
        raise ActionError(
            "not_an_operator", _("Only administrators can do this."), status=403
        )
    if actor.id == member.id:
        raise ActionError(
            "own_standing", _("You cannot change your own role or status."), status=403
        )


def access_member_for_moderation(actor: Member, member_id: int) -> Member:
    check_is_moderator(actor)
    member = Member.objects.filter(id=member_id).first()
    if member is None:
        raise ActionError("member_unknown", _("There is no such member."), status=404)
    return member


def sanctions_of(member: Member) -> QuerySet[Sanction]:
    # Relies on the index sanction_member_recent.
    return (
        Sanction.objects.filter(member=member)
        .select_related("moderator", "ended_by")
        .order_by("-created_at", "-id")
    )


def strikes_of(member: Member) -> QuerySet[Strike]:
    return Strike.objects.filter(member=member).select_related("invitee").order_by("-created_at")


def open_quarantines(viewer: Member, *, now: datetime) -> QuerySet[Sanction]:
    """Quarantines waiting for the viewer's review, oldest first: only those of members
    they may act on (``roles_moderated_by``), as in their report queue — a moderator
    does not see, nor learn why, a peer or a founder was quarantined."""
    return (
        Sanction.objects.in_force_at(now)
        .filter(kind=SanctionKind.QUARANTINE, member__role__in=roles_moderated_by(viewer))
        .select_related("member", "moderator")
        .order_by("created_at", "id")
    )


@dataclass(frozen=True)
class ReportedItem:
    kind: str
    target_id: int
    author: Member
    excerpt: str


def _nothing_to_report() -> ActionError:
    return ActionError("report_target_unknown", _("There is nothing to report here."),
                       status=404)


def _excerpt(text: str) -> str:
    return " ".join(text.split())[: settings.REPORT_EXCERPT_LENGTH]


def reported_item(reporter: Member, *, target_kind: str, target_id: int) -> ReportedItem:
    """What a member reports, if they can see it: a post on a wall they may read, a
    message of one of their conversations, a member's profile — never what a banned
    member wrote, which walls and conversations no longer show."""
    if target_kind == ReportTarget.WALL_POST:
        post = WallPost.objects.select_related("author").filter(id=target_id).first()
        if post is None or post.author.status == Member.Status.BANNED:
            raise _nothing_to_report()
        try:
            visible_wall_owner(reporter, post.wall_owner_id)  # refuses a wall they cannot see
        except ActionError:
            raise _nothing_to_report() from None
        return ReportedItem(kind=target_kind, target_id=post.id, author=post.author,
                            excerpt=_excerpt(post.text))
    if target_kind == ReportTarget.MESSAGE:
        message = Message.objects.select_related("sender").filter(id=target_id).first()
        if message is None or message.sender.status == Member.Status.BANNED or not (
            Participant.objects.filter(
                conversation_id=message.conversation_id, member=reporter
            ).exists()
        ):
            raise _nothing_to_report()
        return ReportedItem(kind=target_kind, target_id=message.id, author=message.sender,
                            excerpt=_excerpt(message.text))
    if target_kind == ReportTarget.PROFILE:
        try:
            member = access_member(target_id)
        except ActionError:
            raise _nothing_to_report() from None
        about = getattr(getattr(member, "profile", None), "about", "")
        return ReportedItem(kind=target_kind, target_id=member.id, author=member,
                            excerpt=_excerpt(f"{member.display_name}: {about}"))
    raise _nothing_to_report()


@dataclass(frozen=True)
class QueueItem:
    """One reported item with its open reports counted; ``newest`` is its most recent
    report (its excerpt, reason and reporter are shown)."""

    target_kind: str
    target_id: int
    author: Member
    reports: int
    spam_reports: int
    newest: Report


def moderation_queue(
    viewer: Member, *, before: int | None
) -> tuple[list[QueueItem], int | None]:
    """One page of the items reported about members the viewer may act on
    (``may_moderate``: never their own, those of their equals or of founders), the
    most recently reported first: those whose newest open report is older than
    ``before`` (None: from the newest), and the next page's cursor (None on the last).
    An item reported again between two pages moves to the top, as on the first page,
    and one decided on leaves: neither repeats nor skips another, as an offset did.
    Two queries whatever the page holds: the grouped counts, then each item's newest
    report with its author and reporter."""
    # Relies on the partial index report_open_item; each report's author by primary key.
    groups, next_before = page_before(
        Report.objects.filter(
            resolved_at__isnull=True, target_member__role__in=roles_moderated_by(viewer)
        )
        .values("target_kind", "target_id")
        .annotate(
            reports=Count("id"),
            spam_reports=Count("id", filter=Q(reason=ReportReason.SPAM)),
            newest_id=Max("id"),
        )
        .order_by("-newest_id"),
        before,
        settings.MODERATION_QUEUE_PAGE_SIZE,
        key="newest_id",  # an item's newest report is its alone: a unique key
    )
    newest = Report.objects.select_related("target_member", "reporter").in_bulk(
        [group["newest_id"] for group in groups]
    )
    return [
        QueueItem(
            target_kind=group["target_kind"],
            target_id=group["target_id"],
            author=newest[group["newest_id"]].target_member,
            reports=group["reports"],
            spam_reports=group["spam_reports"],
            newest=newest[group["newest_id"]],
        )
        for group in groups
    ], next_before
