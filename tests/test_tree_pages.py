"""Tree pages and /api/tree: my inviter and invitees, the public tree and the hide
flag, the moderators' branch browser with preview → confirm, in English and Russian."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings as SettingsWrapper

from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.lib import tree_paths
from inviteonly.lib.converters import MAX_ROW_ID
from inviteonly.moderation.actions import do_quarantine_member
from inviteonly.moderation.models import Report, ReportReason, ReportTarget, Sanction, SanctionKind
from tests.conftest import ApiClient, FrozenClock, make_member

pytestmark = pytest.mark.django_db

PAVEL, MILA = "+79240000001", "+79240000002"


@pytest.fixture
def family(founder: Member) -> dict[str, Member]:
    """founder → moderator; founder → parent → child (quarantined), grandchild."""
    parent = make_member(display_name="Pavel", invited_by=founder, phone=PAVEL)
    child = make_member(display_name="Katya", invited_by=parent)
    grandchild = make_member(display_name="Gleb", invited_by=child)
    Member.objects.filter(pk=child.pk).update(status=Member.Status.QUARANTINED)
    moderator = make_member(
        display_name="Moderator Mila", role=Member.Role.MODERATOR, invited_by=founder, phone=MILA
    )
    return {"parent": parent, "child": child, "grandchild": grandchild, "moderator": moderator}


def client_for(member: Member, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(member)
    return client


@pytest.mark.parametrize(
    ("language", "heading", "status", "branch"),
    [
        ("en", "My place in the tree", "Quarantined", "2 members"),
        ("ru", "Моё место в дереве", "На карантине", "2 участника"),
    ],
)
def test_my_tree_shows_inviter_and_invitees_with_status(
    family: dict[str, Member], language: str, heading: str, status: str, branch: str
) -> None:
    page = client_for(family["parent"], language).get("/tree/").content.decode()
    assert heading in page
    assert re.search(r'data-testid="inviter">Founder Anna', page)
    assert "Katya" in page and status in page and branch in page
    assert "Gleb" not in page  # only direct invitees


def test_public_tree_is_off_unless_the_operator_switches_it_on(
    family: dict[str, Member], settings: SettingsWrapper
) -> None:
    assert Client().get("/tree/public/").status_code == 404
    assert ApiClient().get("/tree/public").status_code == 404
    settings.PUBLIC_TREE_PAGE = True
    roots = Client().get("/tree/public/").content.decode()
    assert "Founder Anna" in roots
    founder_page = Client().get(f"/tree/public/{family['parent'].invited_by_id}/")
    assert "Pavel" in founder_page.content.decode()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_member_can_hide_from_the_public_tree_but_not_from_moderators(
    family: dict[str, Member], settings: SettingsWrapper, language: str
) -> None:
    settings.PUBLIC_TREE_PAGE = True
    parent = family["parent"]
    client = client_for(parent, language)
    response = client.post("/tree/visibility/", {"hidden": "1"}, follow=True)
    hidden_message = {
        "en": "You are now hidden from the public tree.",
        "ru": "Теперь вас нет в открытом дереве.",
    }[language]
    assert hidden_message in response.content.decode()
    parent.refresh_from_db()
    assert parent.hidden_from_public_tree
    founder_page = Client().get(f"/tree/public/{parent.invited_by_id}/").content.decode()
    assert "Pavel" not in founder_page
    assert Client().get(f"/tree/public/{parent.pk}/").status_code == 404
    assert ApiClient().get(f"/tree/public/{parent.pk}").status_code == 404
    # Its invitee is still public (hiding is personal).
    assert Client().get(f"/tree/public/{family['child'].pk}/").status_code == 200
    moderator_view = client_for(family["moderator"]).get(f"/moderation/tree/{parent.pk}/")
    assert "Pavel" in moderator_view.content.decode()
    client.post("/tree/visibility/", {"hidden": "0"})
    assert "Pavel" in Client().get(f"/tree/public/{parent.invited_by_id}/").content.decode()


def test_branch_browser_is_for_moderators(family: dict[str, Member]) -> None:
    member = client_for(family["parent"])
    assert member.get("/moderation/tree/").status_code == 404
    assert member.get(f"/moderation/tree/{family['child'].pk}/").status_code == 404
    assert Client().get("/moderation/tree/").status_code == 302  # to the login page
    page = client_for(family["moderator"]).get("/moderation/tree/").content.decode()
    assert "Founder Anna" in page
    beyond = client_for(family["moderator"]).get(f"/moderation/tree/{tree_paths.MAX_ID + 1}/")
    assert beyond.status_code == 404


@pytest.mark.parametrize(
    ("language", "detail"),
    [("en", "Only moderators and founders can do this."),
     ("ru", "Это могут только модераторы и основатели.")],
)
def test_a_quarantined_moderator_has_no_branch_powers(
    family: dict[str, Member], founder: Member, language: str, detail: str
) -> None:
    moderator, parent = family["moderator"], family["parent"]
    api = ApiClient(language)
    api.log_in(MILA)
    url = f"/tree/members/{parent.pk}/branch-actions/ban"
    digest = api.get(url).json_body["digest"]
    page = client_for(moderator, language)
    page_url = f"/moderation/tree/{parent.pk}/"
    assert page.get(page_url).status_code == 200
    do_quarantine_member(member=moderator, moderator=founder, reason="Abused the tools")
    # The same refusal as every other moderation endpoint gives a quarantined moderator.
    for refused in (
        api.get(f"/tree/members/{parent.pk}"),
        api.get(url),
        api.post(url, {"digest": digest, "reason": "Revenge"}),
        api.get("/moderation/reports"),
    ):
        assert (refused.status_code, refused.json_body["code"], refused.json_body["detail"]) == (
            403, "not_a_moderator", detail
        )
    # The pages treat them as any member: there is no branch browser for them.
    assert page.get(page_url).status_code == 404
    assert page.get(page_url, {"action": "ban"}).status_code == 404
    assert page.post(
        page_url, {"action": "ban", "digest": digest, "reason": "Revenge"}
    ).status_code == 404
    assert not Member.objects.filter(status=Member.Status.BANNED).exists()
    assert not Sanction.objects.filter(kind=SanctionKind.BAN).exists()


@pytest.mark.parametrize(
    ("language", "will_change", "done"),
    [
        ("en", "Quarantine the branch: 2 members will change.", "Done: Quarantine the branch, 2"),
        ("ru", "Отправить ветку на карантин: изменятся 2 участника.", "Готово"),
    ],
)
def test_branch_browser_previews_then_applies(
    family: dict[str, Member], language: str, will_change: str, done: str
) -> None:
    moderator = client_for(family["moderator"], language)
    parent = family["parent"]
    url = f"/moderation/tree/{parent.pk}/"
    page = moderator.get(url).content.decode()
    assert "Katya" in page
    preview = moderator.get(url, {"action": "quarantine"}).content.decode()
    assert will_change in preview
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', preview)
    assert digest is not None
    applied = moderator.post(
        url,
        {"action": "quarantine", "digest": digest.group(1), "reason": "Spam"},
        follow=True,
    )
    assert done in applied.content.decode()
    assert set(
        Member.objects.filter(pk__in=[parent.pk, family["grandchild"].pk]).values_list(
            "status", flat=True
        )
    ) == {Member.Status.QUARANTINED}
    assert AuditEntry.objects.filter(action=AuditAction.BRANCH_QUARANTINED).count() == 2


@pytest.mark.parametrize(
    ("language", "will_change", "ends_on_label", "done"),
    [
        (
            "en",
            "Suspend the branch&#x27;s invite rights: 2 members will change.",
            "Ends on (optional; the suspension lapses by itself that day)",
            "Done: Suspend the branch&#x27;s invite rights, 2 members changed.",
        ),
        (
            "ru",
            "Приостановить право приглашать у всей ветки: изменятся 2 участника.",
            "Окончание (необязательно; в этот день приостановка закончится сама)",
            "Готово: Приостановить право приглашать у всей ветки, изменено 2 участника.",
        ),
    ],
)
def test_branch_browser_suspends_invite_rights_until_a_date(
    family: dict[str, Member],
    clock: FrozenClock,
    language: str,
    will_change: str,
    ends_on_label: str,
    done: str,
) -> None:
    moderator = client_for(family["moderator"], language)
    parent = family["parent"]
    url = f"/moderation/tree/{parent.pk}/"
    assert 'data-testid="preview-suspend_invites"' in moderator.get(url).content.decode()
    preview = moderator.get(url, {"action": "suspend_invites"}).content.decode()
    assert will_change in preview
    assert ends_on_label in preview
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', preview)
    assert digest is not None
    ends_on = (clock.current + timedelta(days=10)).date()
    applied = moderator.post(
        url,
        {
            "action": "suspend_invites",
            "digest": digest.group(1),
            "reason": "Sold invitations",
            "ends_on": ends_on.isoformat(),
        },
        follow=True,
    )
    assert done in applied.content.decode()
    sanctions = Sanction.objects.filter(kind=SanctionKind.INVITE_SUSPENSION)
    # The quarantined child is left out; the statuses do not change.
    assert {s.member_id for s in sanctions} == {parent.pk, family["grandchild"].pk}
    assert {s.ends_at.date() for s in sanctions if s.ends_at} == {ends_on}
    assert Member.objects.get(pk=parent.pk).status == Member.Status.ACTIVE


def test_the_confirmation_form_labels_no_hidden_field(family: dict[str, Member]) -> None:
    """Hidden fields (the action, the digest) had labels, in English on every page."""
    page = client_for(family["moderator"], "ru").get(
        f"/moderation/tree/{family['parent'].pk}/", {"action": "ban"}
    ).content.decode()
    assert 'name="digest"' in page and 'name="action"' in page
    assert ">Digest</label>" not in page and ">Action</label>" not in page
    assert "Причина" in page  # the visible field keeps its label


def test_branch_browser_refuses_a_stale_preview_and_shows_a_fresh_one(
    family: dict[str, Member],
) -> None:
    moderator = client_for(family["moderator"])
    parent = family["parent"]
    url = f"/moderation/tree/{parent.pk}/"
    preview = moderator.get(url, {"action": "ban"}).content.decode()
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', preview)
    assert digest is not None
    make_member(display_name="Newcomer", invited_by=family["grandchild"])
    refused = moderator.post(
        url, {"action": "ban", "digest": digest.group(1), "reason": "Spam"}
    ).content.decode()
    assert "The branch changed after the preview" in refused
    assert "4 members will change" in refused
    assert not Member.objects.filter(status=Member.Status.BANNED).exists()
    fresh = re.search(r'name="digest" value="([0-9a-f]{64})"', refused)
    assert fresh is not None and fresh.group(1) != digest.group(1)


def test_api_my_tree_and_visibility(family: dict[str, Member]) -> None:
    api = ApiClient()
    api.log_in(PAVEL)
    mine = api.get("/tree/me").json_body
    assert mine["inviter"]["display_name"] == "Founder Anna"
    assert mine["invitees_total"] == 1
    assert mine["invitees"][0]["status"] == "quarantined"
    assert mine["invitees"][0]["branch"] == {
        "members": 2, "active": 1, "quarantined": 1, "banned": 0
    }
    assert api.request("PUT", "/tree/me/visibility", {"hidden": True}).json_body == {
        "hidden": True
    }
    assert api.get("/tree/me").json_body["hidden_from_public_tree"] is True


def test_api_branch_preview_apply_and_refusals(family: dict[str, Member]) -> None:
    member_api = ApiClient("ru")
    member_api.log_in(PAVEL)
    parent = family["parent"]
    refused = member_api.get(f"/tree/members/{parent.pk}")
    assert (refused.status_code, refused.json_body["code"]) == (403, "not_a_moderator")
    assert refused.json_body["detail"] == "Это могут только модераторы и основатели."

    api = ApiClient()
    api.log_in(MILA)
    branch = api.get(f"/tree/members/{parent.pk}").json_body
    assert branch["member"]["branch"] == {"members": 3, "active": 2, "quarantined": 1, "banned": 0}
    assert [each["display_name"] for each in branch["nearest_ancestors"]] == ["Founder Anna"]
    assert branch["invitees"][0]["branch"]["members"] == 2

    preview = api.get(f"/tree/members/{parent.pk}/branch-actions/ban").json_body
    assert preview["affected"] == 3
    Member.objects.filter(pk=family["child"].pk).update(status=Member.Status.ACTIVE)
    stale = api.post(
        f"/tree/members/{parent.pk}/branch-actions/ban",
        {"digest": preview["digest"], "reason": "Spam"},
    )
    assert (stale.status_code, stale.json_body["code"]) == (409, "branch_changed")
    assert not Member.objects.filter(status=Member.Status.BANNED).exists()

    preview = api.get(f"/tree/members/{parent.pk}/branch-actions/ban").json_body
    applied = api.post(
        f"/tree/members/{parent.pk}/branch-actions/ban",
        {"digest": preview["digest"], "reason": "Spam"},
    )
    assert applied.status_code == 200
    assert applied.json_body["affected"] == preview["affected"] == 3
    assert Member.objects.filter(status=Member.Status.BANNED).count() == 3
    assert api.get(f"/tree/members/{tree_paths.MAX_ID + 1}").status_code == 422
    assert api.get("/tree/members/999999").status_code == 404


def test_api_suspends_a_branch_invite_rights(family: dict[str, Member], clock: FrozenClock) -> None:
    api = ApiClient("ru")
    api.log_in(MILA)
    parent = family["parent"]
    url = f"/tree/members/{parent.pk}/branch-actions/suspend_invites"
    preview = api.get(url).json_body
    assert (preview["action"], preview["affected"]) == ("suspend_invites", 2)
    past = api.post(
        url,
        {"digest": preview["digest"], "reason": "Spam", "ends_at": clock.current.isoformat()},
    )
    assert (past.status_code, past.json_body["code"]) == (400, "ends_at_in_past")
    assert past.json_body["detail"] == "Дата окончания должна быть в будущем."
    too_far = api.post(
        url, {"digest": preview["digest"], "reason": "Spam", "ends_at": "9999-12-31T23:59:59-14:00"}
    )
    assert (too_far.status_code, too_far.json_body["code"]) == (400, "ends_at_too_far")
    assert too_far.json_body["detail"] == (
        "Дата окончания — не позже чем через десять лет. Чтобы срока не было, оставьте поле пустым."
    )
    assert not Sanction.objects.exists()
    ends_at = clock.current + timedelta(days=3)
    applied = api.post(
        url, {"digest": preview["digest"], "reason": "Spam", "ends_at": ends_at.isoformat()}
    )
    assert applied.status_code == 200
    assert applied.json_body["affected"] == 2
    assert set(Sanction.objects.values_list("member_id", "ends_at")) == {
        (parent.pk, ends_at), (family["grandchild"].pk, ends_at)
    }
    # Suspended for three days already: only a suspension without end (what a preview
    # without an end date counts) would change them; one for as long, or shorter, not.
    assert api.get(url).json_body["affected"] == 2
    def affected_until(ends: datetime) -> int:
        return int(api.get(f"{url}?{urlencode({'ends_at': ends.isoformat()})}").json_body[
            "affected"
        ])

    assert affected_until(ends_at) == affected_until(clock.current + timedelta(days=1)) == 0
    assert affected_until(ends_at + timedelta(days=1)) == 2
    wrong = api.post(
        f"/tree/members/{parent.pk}/branch-actions/ban",
        {
            "digest": api.get(f"/tree/members/{parent.pk}/branch-actions/ban").json_body["digest"],
            "reason": "Spam",
            "ends_at": ends_at.isoformat(),
        },
    )
    assert (wrong.status_code, wrong.json_body["code"]) == (400, "ends_at_not_applicable")
    assert not Member.objects.filter(status=Member.Status.BANNED).exists()


def report(author: Member, reporter: Member, target_id: int) -> None:
    Report.objects.create(
        reporter=reporter, target_kind=ReportTarget.WALL_POST, target_id=target_id,
        target_member=author, reason=ReportReason.SPAM,
    )


@pytest.mark.parametrize(
    ("language", "column"), [("en", "Open reports"), ("ru", "Открытые жалобы")]
)
def test_branch_browser_counts_open_reports_in_constant_queries(
    family: dict[str, Member], founder: Member, language: str, column: str
) -> None:
    moderator = client_for(family["moderator"], language)
    parent, child = family["parent"], family["child"]
    report(family["grandchild"], founder, 1)
    report(family["grandchild"], founder, 2)
    report(parent, founder, 3)
    url = f"/moderation/tree/{parent.pk}/"
    with CaptureQueriesContext(connection) as few:
        page = moderator.get(url).content.decode()
    assert column in page
    assert '<td data-testid="open-reports">3</td>' in page
    assert f'<td data-testid="open-reports-{child.pk}">2</td>' in page
    # More invitees, each with reports against their branches: the same queries.
    newcomers = [make_member(display_name=f"New {n}", invited_by=parent) for n in range(4)]
    for number, newcomer in enumerate(newcomers):
        report(newcomer, founder, 10 + number)
    with CaptureQueriesContext(connection) as many:
        page = moderator.get(url).content.decode()
    assert '<td data-testid="open-reports">7</td>' in page
    for newcomer in newcomers:
        assert f'<td data-testid="open-reports-{newcomer.pk}">1</td>' in page
    assert len(many) == len(few)
    # The founders' branches: everyone's open reports, here all under Founder Anna.
    roots = moderator.get("/moderation/tree/").content.decode()
    assert column in roots
    assert f'<td data-testid="open-reports-{founder.pk}">7</td>' in roots


def test_api_branch_counts_open_reports(family: dict[str, Member], founder: Member) -> None:
    parent, child = family["parent"], family["child"]
    report(family["grandchild"], founder, 1)
    report(child, founder, 2)
    Report.objects.filter(target_id=2).update(resolved_at=founder.joined_at)
    api = ApiClient()
    api.log_in(MILA)
    branch = api.get(f"/tree/members/{parent.pk}").json_body
    assert branch["member"]["open_reports"] == 1
    assert [(each["id"], each["open_reports"]) for each in branch["invitees"]] == [(child.pk, 1)]
    # Members see their own invitees, never the reports against them.
    member_api = ApiClient()
    member_api.log_in(PAVEL)
    assert member_api.get("/tree/me").json_body["invitees"][0]["open_reports"] is None


@pytest.mark.parametrize(
    ("action", "ends_at", "code"),
    [
        ("suspend_invites", "9999-12-31T23:00:00-14:00", "ends_at_too_far"),
        ("suspend_invites", "0001-01-01T00:00:00+14:00", "ends_at_in_past"),
        ("ban", "2030-01-01T00:00:00+00:00", "ends_at_not_applicable"),
    ],
)
def test_api_branch_preview_refuses_an_end_date_as_applying_does(
    family: dict[str, Member], action: str, ends_at: str, code: str
) -> None:
    """A preview checks the end date as applying it would (dates beyond what the
    database can convert were a 500 on SQLite)."""
    api = ApiClient()
    api.log_in(MILA)
    answer = api.get(
        f"/tree/members/{family['parent'].pk}/branch-actions/{action}?"
        + urlencode({"ends_at": ends_at})
    )
    assert (answer.status_code, answer.json_body["code"]) == (400, code)
    assert answer.json_body["field"] == "ends_at"


def test_branch_browser_refusing_an_end_date_shows_the_branch_to_confirm_again(
    family: dict[str, Member], clock: FrozenClock
) -> None:
    moderator = client_for(family["moderator"])
    url = f"/moderation/tree/{family['parent'].pk}/"
    preview = moderator.get(url, {"action": "suspend_invites"}).content.decode()
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', preview)
    assert digest is not None
    refused = moderator.post(
        url,
        {
            "action": "suspend_invites",
            "digest": digest.group(1),
            "reason": "Sold invitations",
            "ends_on": (clock.current - timedelta(days=1)).date().isoformat(),
        },
    )
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "The end date must be in the future." in page
    assert "2 members will change" in page
    assert not Sanction.objects.exists()


def test_branch_roots_page_counts_every_root_in_constant_queries(
    family: dict[str, Member],
) -> None:
    moderator = client_for(family["moderator"])
    with CaptureQueriesContext(connection) as few:
        assert moderator.get("/moderation/tree/").status_code == 200
    roots = [make_member(display_name=f"Open-mode root {n}") for n in range(5)]
    make_member(display_name="Invited by a root", invited_by=roots[0])
    with CaptureQueriesContext(connection) as many:
        page = moderator.get("/moderation/tree/").content.decode()
    assert len(many) == len(few)
    assert page.count("Open-mode root") == 5
    # The first new root's branch: two members, both active.
    assert re.search(
        rf'{roots[0].pk}/">Open-mode root 0</a></td><td>2</td><td>2</td>', page
    )


def test_branch_counts_leave_out_reports_the_moderator_may_not_see(
    family: dict[str, Member], founder: Member
) -> None:
    """As in their report queue: nobody learns from a count that they, a peer or a
    founder were reported."""
    moderator, grandchild = family["moderator"], family["grandchild"]
    report(grandchild, family["parent"], 1)
    report(moderator, family["parent"], 2)
    report(founder, family["parent"], 3)
    as_moderator, as_founder = ApiClient(), ApiClient()
    as_moderator.log_in(MILA)
    as_founder.log_in("+79160000001")

    def counts(api: ApiClient) -> tuple[int, dict[int, int]]:
        branch = api.get(f"/tree/members/{founder.pk}").json_body
        return branch["member"]["open_reports"], {
            each["id"]: each["open_reports"] for each in branch["invitees"]
        }

    assert counts(as_moderator) == (1, {family["parent"].pk: 1, moderator.pk: 0})
    assert counts(as_founder) == (2, {family["parent"].pk: 1, moderator.pk: 1})
    own = as_moderator.get(f"/tree/members/{moderator.pk}").json_body
    assert own["member"]["open_reports"] == 0
    page = client_for(moderator).get("/moderation/tree/").content.decode()
    assert f'<td data-testid="open-reports-{founder.pk}">1</td>' in page


# --- paging: by id, with a cursor (?after=) -------------------------------------------


@dataclass(frozen=True)
class TreeList:
    """One of the tree's lists, oldest first: its API path and key (None: pages only),
    its page, who reads it, and how a member leaves it (hiding from the public tree;
    the private lists lose a member only when the row goes)."""

    api_path: str | None
    key: str
    page_path: str
    reader: Member | None
    leave: Callable[[Member], object]


def _hide(member: Member) -> None:
    Member.objects.filter(pk=member.pk).update(hidden_from_public_tree=True)


def _delete(member: Member) -> None:
    Member.objects.filter(pk=member.pk).delete()


TREE_LISTS = ["mine", "branch", "public member", "public roots", "branch roots"]


def _tree_list(name: str, family: dict[str, Member]) -> tuple[TreeList, Callable[[int], Member]]:
    """The list, and how to add its n-th member (listed as "Listed n")."""
    parent, moderator = family["parent"], family["moderator"]

    def invitee(n: int) -> Member:
        return make_member(display_name=f"Listed {n}", invited_by=parent)

    def root(n: int) -> Member:
        return make_member(display_name=f"Listed {n}")

    lists = {
        "mine": (TreeList("/tree/me", "invitees", "/tree/", parent, _delete), invitee),
        "branch": (TreeList(f"/tree/members/{parent.pk}", "invitees",
                            f"/moderation/tree/{parent.pk}/", moderator, _delete), invitee),
        "public member": (TreeList(f"/tree/public/{parent.pk}", "members",
                                   f"/tree/public/{parent.pk}/", None, _hide), invitee),
        "public roots": (TreeList("/tree/public", "members", "/tree/public/", None, _hide),
                         root),
        "branch roots": (TreeList(None, "", "/moderation/tree/", moderator, _delete), root),
    }
    return lists[name]


def _listed(names: list[str]) -> list[int]:
    return [int(found) for name in names for found in re.findall(r"^Listed (\d+)$", name)]


def _api_for(reader: Member | None, language: str = "en") -> ApiClient:
    api = ApiClient(language)
    if reader is not None:
        api.log_in(PAVEL if reader.display_name == "Pavel" else MILA)
    return api


@pytest.fixture
def public_tree(settings: SettingsWrapper) -> None:
    settings.PUBLIC_TREE_PAGE = True


@pytest.mark.parametrize("name", [name for name in TREE_LISTS if name != "branch roots"])
def test_the_api_tree_lists_page_by_cursor_without_repeats_or_gaps(
    family: dict[str, Member], public_tree: None, name: str
) -> None:
    """``?after=<next_after>``: a member read on page 1 who leaves the list before
    page 2 lets nobody slip past, and one who joins meanwhile is listed once, at the
    end (an offset skipped the first member of page 2)."""
    listing, add = _tree_list(name, family)
    members = [add(n) for n in range(5)]
    assert listing.api_path is not None
    api = _api_for(listing.reader)
    first = api.get(f"{listing.api_path}?limit=2")
    assert first.status_code == 200, first.json_body
    assert "members_total" not in first.json_body
    seen = _listed([each["display_name"] for each in first.json_body[listing.key]])
    listing.leave(members[0])
    add(5)
    cursor = first.json_body["next_after"]
    while cursor is not None:
        page = api.get(f"{listing.api_path}?limit=2&after={cursor}").json_body
        seen += _listed([each["display_name"] for each in page[listing.key]])
        cursor = page["next_after"]
    assert seen == [0, 1, 2, 3, 4, 5]


def _next_link(html: str) -> str | None:
    more = re.search(r'<a href="([^"]+)" data-testid="next">', html)
    return None if more is None else more.group(1).replace("&amp;", "&")


def _shown(html: str) -> list[int]:
    return [int(found) for found in re.findall(r">Listed (\d+)<", html)]


def _page_client(reader: Member | None) -> Client:
    return Client() if reader is None else client_for(reader)


@pytest.mark.parametrize("name", TREE_LISTS)
def test_the_tree_pages_link_their_next_page_by_cursor(
    family: dict[str, Member], public_tree: None, settings: SettingsWrapper, name: str
) -> None:
    """The "Next" link carries the cursor and keeps the address's other parameters; a
    member leaving or joining between two pages neither repeats nor skips anyone."""
    settings.TREE_CHILDREN_PER_PAGE = 2
    listing, add = _tree_list(name, family)
    members = [add(n) for n in range(5)]
    client = _page_client(listing.reader)
    page = client.get(listing.page_path, {"mark": "x y"}).content.decode()
    link = _next_link(page)
    seen = _shown(page)
    listing.leave(members[0])
    add(5)
    while link is not None:
        assert link.count("after=") == 1 and "mark=x+y" in link and "page=" not in link
        page = client.get(f"{listing.page_path}{link}").content.decode()
        seen += _shown(page)
        link = _next_link(page)
    assert seen == [0, 1, 2, 3, 4, 5]


# Cursors no page wrote: not a number, out of range, a NUL (which PostgreSQL refuses
# outright), digits of another script, far too many digits.
MALFORMED_TREE_CURSORS = ["nonsense", "0", "-1", "1.5", "\x00", "7\x00", "\u0661",
                          str(MAX_ROW_ID + 1), "9" * 40, "1" * 5000]


@pytest.mark.parametrize("cursor", MALFORMED_TREE_CURSORS)
@pytest.mark.parametrize("name", [name for name in TREE_LISTS if name != "branch roots"])
def test_a_malformed_tree_cursor_is_a_translated_422(
    family: dict[str, Member], public_tree: None, name: str, cursor: str
) -> None:
    listing, _add = _tree_list(name, family)
    assert listing.api_path is not None
    for language in ("en", "ru"):
        api = _api_for(listing.reader, language)
        answer = api.client.get(f"/api{listing.api_path}", {"after": cursor},
                                headers=api._headers())
        assert answer.status_code == 422, (cursor, answer.content)
        body = answer.json()
        assert (body["code"], body["field"]) == ("invalid_request", "after")
        assert body["detail"].startswith("after: ")
        cyrillic = re.search("[а-яА-Я]", body["detail"]) is not None
        assert cyrillic == (language == "ru"), body["detail"]


@pytest.mark.parametrize("cursor", MALFORMED_TREE_CURSORS)
@pytest.mark.parametrize("name", TREE_LISTS)
def test_a_malformed_tree_page_cursor_is_the_first_page(
    family: dict[str, Member], public_tree: None, name: str, cursor: str
) -> None:
    listing, add = _tree_list(name, family)
    add(0)
    page = _page_client(listing.reader).get(listing.page_path, {"after": cursor})
    assert page.status_code == 200
    assert _shown(page.content.decode()) == [0]


@pytest.mark.parametrize("name", [name for name in TREE_LISTS if name != "branch roots"])
def test_the_largest_tree_cursor_is_answered(
    family: dict[str, Member], public_tree: None, name: str
) -> None:
    """Past every id: an empty last page, never an error on PostgreSQL."""
    listing, add = _tree_list(name, family)
    add(0)
    assert listing.api_path is not None
    answer = _api_for(listing.reader).get(f"{listing.api_path}?after={MAX_ROW_ID}")
    assert answer.status_code == 200, answer.json_body
    assert (answer.json_body[listing.key], answer.json_body["next_after"]) == ([], None)
