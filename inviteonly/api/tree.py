"""/api/tree: my inviter and invitees, the public tree, and for moderators the branch
browser with branch actions (preview, then apply with the preview's digest)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Path, Query, Router, Schema
from pydantic import AwareDatetime, Field

from inviteonly.accounts.actions import do_set_public_tree_visibility
from inviteonly.accounts.models import Member
from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.schemas import ERRORS, MemberRef
from inviteonly.invitations import tree
from inviteonly.invitations.branch_actions import (
    BranchAction,
    BranchPreview,
    do_apply_branch_action,
    preview_branch_action,
)
from inviteonly.lib import tree_paths
from inviteonly.lib.converters import MAX_ROW_ID
from inviteonly.lib.web import client_ip

router = Router(auth=session_bearer)

# Inviters listed above a member in the branch browser.
NEAREST_ANCESTORS = 5

MemberIdPath = Path(..., ge=1, le=tree_paths.MAX_ID)


class TreePageIn(Schema):
    """A page of a list of the tree (oldest first): pass the previous page's
    ``next_after``."""

    after: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)
    limit: int = Field(settings.TREE_CHILDREN_PER_PAGE, ge=1, le=settings.TREE_CHILDREN_PER_PAGE)


class BranchCountsOut(Schema):
    members: int
    active: int
    quarantined: int
    banned: int

    @staticmethod
    def of(counts: tree.BranchCounts) -> BranchCountsOut:
        return BranchCountsOut(**vars(counts))


class TreeMemberOut(Schema):
    id: int
    display_name: str
    status: str
    joined_at: datetime
    branch: BranchCountsOut
    # Open reports against members of the branch: moderators only (null otherwise).
    open_reports: int | None = None

    @staticmethod
    def of(child: tree.ChildBranch) -> TreeMemberOut:
        return TreeMemberOut(
            id=child.member.pk,
            display_name=child.member.display_name,
            status=child.member.status,
            joined_at=child.member.joined_at,
            branch=BranchCountsOut.of(child.counts),
            open_reports=child.open_reports,
        )


class MyTreeOut(Schema):
    """The invitees oldest first: one who joins or goes between two pages neither
    repeats nor skips another."""

    inviter: MemberRef | None
    hidden_from_public_tree: bool
    # How many there are now (not for paging: follow next_after).
    invitees_total: int
    invitees: list[TreeMemberOut]
    # Ask for the next page with ?after=<next_after>; null on the last page.
    next_after: int | None


class VisibilityIn(Schema):
    hidden: bool


class VisibilityOut(Schema):
    hidden: bool


class PublicMemberOut(Schema):
    id: int
    display_name: str
    joined_at: datetime


class PublicTreeOut(Schema):
    """The members oldest first: one who joins, hides or shows themselves again between
    two pages neither repeats nor skips another."""

    member: PublicMemberOut | None
    members: list[PublicMemberOut]
    # Ask for the next page with ?after=<next_after>; null on the last page.
    next_after: int | None


class BranchOut(Schema):
    member: TreeMemberOut
    role: str
    depth: int
    nearest_ancestors: list[MemberRef]
    # How many there are now (not for paging: follow next_after).
    invitees_total: int
    invitees: list[TreeMemberOut]
    # Ask for the next page with ?after=<next_after>; null on the last page.
    next_after: int | None


class PreviewOut(Schema):
    action: BranchAction
    branch: BranchCountsOut
    affected: int
    digest: str

    @staticmethod
    def of(preview: BranchPreview) -> PreviewOut:
        return PreviewOut(
            action=preview.action,
            branch=BranchCountsOut.of(preview.counts),
            affected=preview.affected,
            digest=preview.digest,
        )


class ApplyIn(Schema):
    digest: str = Field(max_length=64)
    reason: str = Field(max_length=settings.MODERATION_REASON_MAX_LENGTH)
    # Only for suspend_invites: the suspensions lapse by themselves then.
    ends_at: AwareDatetime | None = None


def _ref(member: Member) -> MemberRef:
    return MemberRef(id=member.pk, display_name=member.display_name)


@dataclass(frozen=True)
class _InviteesPage:
    # All of them, counted from an index on invited_by alone (no row is read).
    total: int
    invitees: list[TreeMemberOut]
    next_after: int | None


def _invitees(
    member: Member, page: TreePageIn, *, moderator: Member | None = None
) -> _InviteesPage:
    """A page of ``member``'s invitees with their branches' counts; for a
    ``moderator``, with the open reports they may know of."""
    invitees = tree.invitees_of(member)
    listed, next_after = tree.members_page(invitees, after=page.after, limit=page.limit)
    children = tree.children_with_counts(member, listed)
    if moderator is not None:
        children = tree.with_open_reports(moderator, member, children)
    return _InviteesPage(
        total=invitees.order_by().count(),
        invitees=[TreeMemberOut.of(child) for child in children],
        next_after=next_after,
    )


@router.get("/me", response={200: MyTreeOut, **ERRORS}, summary="My inviter and invitees")
def my_tree(request: HttpRequest, page: Query[TreePageIn]) -> MyTreeOut:
    member = authenticated_member(request)
    invitees = _invitees(member, page)
    inviter = member.invited_by
    return MyTreeOut(
        inviter=_ref(inviter) if inviter else None,
        hidden_from_public_tree=member.hidden_from_public_tree,
        invitees_total=invitees.total,
        invitees=invitees.invitees,
        next_after=invitees.next_after,
    )


@router.put(
    "/me/visibility",
    response={200: VisibilityOut, **ERRORS},
    summary="Hide me from the public tree, or show me",
)
def set_visibility(request: HttpRequest, payload: VisibilityIn) -> VisibilityOut:
    member = authenticated_member(request)
    do_set_public_tree_visibility(member=member, hidden=payload.hidden)
    return VisibilityOut(hidden=member.hidden_from_public_tree)


def _public_tree(
    member: Member | None, members: QuerySet[Member], page: TreePageIn
) -> PublicTreeOut:
    # No count: the roots alone can be every member (open registration), read by anyone.
    listed, next_after = tree.members_page(members, after=page.after, limit=page.limit)
    return PublicTreeOut(
        member=_public_member(member) if member is not None else None,
        members=[_public_member(each) for each in listed],
        next_after=next_after,
    )


def _public_member(member: Member) -> PublicMemberOut:
    return PublicMemberOut(
        id=member.pk, display_name=member.display_name, joined_at=member.joined_at
    )


@router.get(
    "/public",
    auth=None,
    response={200: PublicTreeOut, **ERRORS},
    summary="The public tree: members nobody invited",
)
def public_roots(request: HttpRequest, page: Query[TreePageIn]) -> PublicTreeOut:
    tree.check_public_tree_open()
    return _public_tree(None, tree.public_roots(), page)


@router.get(
    "/public/{member_id}",
    auth=None,
    response={200: PublicTreeOut, **ERRORS},
    summary="The public tree: a member and whom they invited",
)
def public_member(
    request: HttpRequest, page: Query[TreePageIn], member_id: int = MemberIdPath
) -> PublicTreeOut:
    member = tree.access_public_tree_member(member_id)
    return _public_tree(member, tree.public_invitees_of(member), page)


@router.get(
    "/members/{member_id}",
    response={200: BranchOut, **ERRORS},
    summary="Moderators: a member's branch, level by level, with counts",
)
def branch(
    request: HttpRequest, page: Query[TreePageIn], member_id: int = MemberIdPath
) -> BranchOut:
    moderator = authenticated_member(request)
    member = tree.access_tree_member(moderator, member_id)
    invitees = _invitees(member, page, moderator=moderator)
    return BranchOut(
        member=TreeMemberOut.of(
            tree.ChildBranch(
                member,
                tree.branch_counts(member),
                tree.open_reports_in_branch(moderator, member),
            )
        ),
        role=member.role,
        depth=len(tree.ancestor_ids(member)),
        nearest_ancestors=[
            MemberRef(id=ancestor.id, display_name=ancestor.display_name)
            for ancestor in tree.ancestors_of(member, nearest=NEAREST_ANCESTORS)
        ],
        invitees_total=invitees.total,
        invitees=invitees.invitees,
        next_after=invitees.next_after,
    )


@router.get(
    "/members/{member_id}/branch-actions/{action}",
    response={200: PreviewOut, **ERRORS},
    summary="Moderators: preview an action on the whole branch",
)
def preview_action(
    request: HttpRequest,
    action: BranchAction,
    member_id: int = MemberIdPath,
    ends_at: AwareDatetime | None = None,
) -> PreviewOut:
    """``ends_at``: the end date a suspension of invite rights would have (members
    suspended at least as long already are left out of it)."""
    moderator = authenticated_member(request)
    member = tree.access_tree_member(moderator, member_id)
    return PreviewOut.of(
        preview_branch_action(moderator=moderator, root=member, action=action, ends_at=ends_at)
    )


@router.post(
    "/members/{member_id}/branch-actions/{action}",
    response={200: PreviewOut, **ERRORS},
    summary="Moderators: apply a previewed action (refused with 409 if the branch changed)",
)
def apply_action(
    request: HttpRequest, action: BranchAction, payload: ApplyIn, member_id: int = MemberIdPath
) -> PreviewOut:
    moderator = authenticated_member(request)
    member = tree.access_tree_member(moderator, member_id)
    return PreviewOut.of(
        do_apply_branch_action(
            moderator=moderator,
            root=member,
            action=action,
            digest=payload.digest,
            reason=payload.reason,
            ends_at=payload.ends_at,
            ip_address=client_ip(request),
        )
    )
