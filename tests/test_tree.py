"""The invitation tree: ancestors, branches and counts against a naive walk of
invited_by, one query each, including paths deeper than the indexed column."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inviteonly.accounts.models import Member
from inviteonly.invitations import tree
from inviteonly.lib import clock, tree_paths
from inviteonly.moderation.models import Report, ReportReason, ReportResolution, ReportTarget
from tests.conftest import FrozenClock, SmsOutbox, make_member

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[tree_paths.INDEXED_BYTES, 8], ids=["indexed", "overflowing"])
def indexed_bytes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Run with the real column split, and with one of 2 levels so that most paths
    spill into the overflow column (as a 10,000-deep chain does for real)."""
    monkeypatch.setattr(tree_paths, "INDEXED_BYTES", request.param)
    yield request.param


def build_tree(parents: list[int | None]) -> list[Member]:
    """Member i is invited by member parents[i] (an earlier index) or is a root."""
    members: list[Member] = []
    for position, parent in enumerate(parents):
        inviter = members[parent] if parent is not None else None
        members.append(make_member(display_name=f"M{position}", invited_by=inviter))
    return members


def naive_ancestors(member: Member) -> list[int]:
    chain = []
    current = Member.objects.get(pk=member.pk).invited_by
    while current is not None:
        chain.append(current.pk)
        current = current.invited_by
    return list(reversed(chain))


def naive_branch(member: Member, members: list[Member]) -> set[int]:
    children: dict[int, list[int]] = {}
    for each in members:
        if each.invited_by_id is not None:
            children.setdefault(each.invited_by_id, []).append(each.pk)
    found, stack = set(), [member.pk]
    while stack:
        current = stack.pop()
        found.add(current)
        stack.extend(children.get(current, []))
    return found


parent_lists = st.integers(min_value=1, max_value=14).flatmap(
    lambda size: st.tuples(
        *[st.one_of(st.none(), st.integers(0, position - 1)) if position else st.none()
          for position in range(size)]
    )
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parents=parent_lists, statuses=st.lists(st.sampled_from(Member.Status.values), min_size=14))
def test_random_trees_match_a_walk_of_invited_by(
    indexed_bytes: int, parents: tuple[int | None, ...], statuses: list[str]
) -> None:
    with transaction.atomic():
        members = build_tree(list(parents))
        for member, status in zip(members, statuses, strict=False):
            Member.objects.filter(pk=member.pk).update(status=status)
        for member in members:
            assert [each.id for each in tree.ancestors_of(member)] == naive_ancestors(member)
            expected = naive_branch(member, members)
            assert set(tree.branch_of(member).values_list("pk", flat=True)) == expected
            assert set(
                tree.branch_of(member, include_root=False).values_list("pk", flat=True)
            ) == expected - {member.pk}
            counts = tree.branch_counts(member)
            expected_statuses = [
                statuses[position] for position, each in enumerate(members) if each.pk in expected
            ]
            assert counts == tree.BranchCounts(
                members=len(expected),
                active=expected_statuses.count(Member.Status.ACTIVE),
                quarantined=expected_statuses.count(Member.Status.QUARANTINED),
                banned=expected_statuses.count(Member.Status.BANNED),
            )
            invitees = list(tree.invitees_of(member))
            for child in tree.children_with_counts(member, invitees):
                assert child.counts == tree.branch_counts(child.member)
        transaction.set_rollback(True)


def test_each_question_is_one_query(indexed_bytes: int) -> None:
    chain = build_tree([None, *range(9)])
    deepest = Member.objects.get(pk=chain[-1].pk)
    middle = Member.objects.get(pk=chain[4].pk)
    with CaptureQueriesContext(connection) as ancestors_queries:
        ancestors = tree.ancestors_of(deepest)
    with CaptureQueriesContext(connection) as branch_queries:
        branch = list(tree.branch_of(middle))
    with CaptureQueriesContext(connection) as count_queries:
        counts = tree.branch_counts(middle)
    with CaptureQueriesContext(connection) as children_queries:
        children = tree.children_with_counts(middle, [chain[5]])
    assert [each.id for each in ancestors] == [each.pk for each in chain[:-1]]
    assert {each.pk for each in branch} == {each.pk for each in chain[4:]}
    assert counts.members == 6
    assert children[0].counts.members == 5
    assert (
        len(ancestors_queries), len(branch_queries), len(count_queries), len(children_queries)
    ) == (1, 1, 1, 1)


def test_open_reports_per_branch_and_per_child_in_one_query_each(indexed_bytes: int) -> None:
    # M0 → M1, M2; M1 → M3, M4; M3 → M5; M2 → M6 → M7. Paths spill into the overflow
    # column from depth 2 when indexed_bytes is 8.
    members = build_tree([None, 0, 0, 1, 1, 3, 2, 6])
    outsider = make_member(display_name="Outsider")
    reports = [(5, True), (5, True), (4, True), (7, True), (1, False), (None, True)]
    for target_id, (position, is_open) in enumerate(reports, start=1):
        Report.objects.create(
            reporter=outsider if position is not None else members[0],
            target_kind=ReportTarget.WALL_POST,
            target_id=target_id,
            target_member=members[position] if position is not None else outsider,
            reason=ReportReason.SPAM,
            resolved_at=None if is_open else clock.now(),
            resolution="" if is_open else ReportResolution.DISMISSED,
        )

    def expected(member: Member) -> int:
        branch = naive_branch(member, members)
        return sum(
            1 for position, is_open in reports
            if is_open and position is not None and members[position].pk in branch
        )

    assert [expected(member) for member in members] == [4, 3, 1, 2, 1, 2, 1, 1]
    viewer = make_member(display_name="Founder", role=Member.Role.FOUNDER)
    for member in members:
        member = Member.objects.get(pk=member.pk)
        with CaptureQueriesContext(connection) as total_queries:
            total = tree.open_reports_in_branch(viewer, member)
        children = tree.children_with_counts(member, list(tree.invitees_of(member)))
        with CaptureQueriesContext(connection) as child_queries:
            counted = tree.with_open_reports(viewer, member, children)
        assert total == expected(member)
        assert [child.open_reports for child in counted] == [
            expected(child.member) for child in children
        ]
        assert len(total_queries) == 1
        assert len(child_queries) == (1 if children else 0)
    # The roots (members nobody invited), in one aggregate each as well.
    with CaptureQueriesContext(connection) as root_queries:
        roots = tree.children_with_counts(None, [members[0], outsider])
        counted = tree.with_open_reports(viewer, None, roots)
    assert [root.counts.members for root in counted] == [8, 1]
    assert [root.open_reports for root in counted] == [4, 1]
    assert len(root_queries) == 2


def test_a_chain_deeper_than_the_indexed_column() -> None:
    """300 levels with the real split: the bottom 44 paths overflow."""
    depth = tree_paths.INDEXED_BYTES // tree_paths.ID_BYTES + 44
    chain = build_tree([None, *range(depth - 1)])
    bottom = Member.objects.get(pk=chain[-1].pk)
    assert len(bytes(bottom.tree_path)) == tree_paths.INDEXED_BYTES
    assert len(bytes(bottom.tree_path_overflow)) == 44 * tree_paths.ID_BYTES
    assert [each.id for each in tree.ancestors_of(bottom)] == [each.pk for each in chain[:-1]]
    below_boundary = Member.objects.get(pk=chain[-20].pk)
    assert tree.branch_counts(below_boundary).members == 20
    at_boundary = Member.objects.get(pk=chain[255].pk)
    assert tree.branch_counts(at_boundary).members == depth - 255
    assert tree.children_with_counts(at_boundary, [chain[256]])[0].counts.members == depth - 256


def test_sibling_ids_sharing_leading_bytes_stay_apart() -> None:
    """Fixed-width segments: member 1's branch never catches member 256 (0x00000100)."""
    assert tree_paths.successor(b"\x00\x00\x01\xff") == b"\x00\x00\x02"
    assert tree_paths.successor(b"\xff\xff") is None
    assert tree_paths.path_ids(tree_paths.child_path(tree_paths.child_path(b"", 1), 256)) == [
        1,
        256,
    ]
    with pytest.raises(ValueError, match="does not fit"):
        tree_paths.child_path(b"", tree_paths.MAX_ID + 1)


def test_nearest_ancestors_and_ids_by_member_id() -> None:
    chain = build_tree([None, *range(5)])
    bottom = Member.objects.get(pk=chain[-1].pk)
    assert [each.id for each in tree.ancestors_of(bottom, nearest=2)] == [
        chain[3].pk,
        chain[4].pk,
    ]
    assert tree.ancestors_of(bottom, nearest=0) == []
    with CaptureQueriesContext(connection) as queries:
        ids = tree.ancestor_ids_of(bottom.pk)
    assert (ids, len(queries)) == ([each.pk for each in chain[:-1]], 1)
    assert tree.ancestor_ids_of(0) == []
    assert tree.ancestors_of(chain[0]) == []


def test_joining_places_the_newcomer_under_the_inviter(
    founder: Member, sms_outbox: SmsOutbox, clock: FrozenClock
) -> None:
    """The real join flow (founder link, then a member's invitation) writes the paths."""
    from tests.test_invitations import invite_and_open, join

    first = join(invite_and_open(founder, sms_outbox), sms_outbox)
    clock.advance(days=31)  # old enough to invite
    other = "+79161234568"
    second = join(invite_and_open(first, sms_outbox, other), sms_outbox, phone=other)
    stored = Member.objects.get(pk=second.pk)
    assert tree_paths.path_ids(stored.full_tree_path) == [founder.pk, first.pk, second.pk]
    assert [each.id for each in tree.ancestors_of(stored)] == [founder.pk, first.pk]
    assert tree.branch_counts(founder).members == 3
