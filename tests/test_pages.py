"""Server-rendered pages: what each bad path shows, admin access, the language switch."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings

from inviteonly.accounts.models import Member, MemberSession
from inviteonly.invitations.actions import (
    do_create_founder_invitation,
    do_invite_by_phone,
    do_revoke_invitation,
)
from inviteonly.invitations.models import Invitation
from inviteonly.phone_verification.models import PhoneVerification
from inviteonly.site_config.actions import do_set_registration_mode
from tests.conftest import PASSWORD, FrozenClock, SmsOutbox, make_member

pytestmark = pytest.mark.django_db

NUMBER = "+79161234567"


def logged_in(phone: str, password: str = PASSWORD) -> Client:
    client = Client()
    response = client.post("/login/", {"phone": phone, "password": password})
    assert response.status_code == 302, response.content
    return client


def without_csrf(html: bytes) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html.decode())


def test_unknown_join_link_shows_why() -> None:
    response = Client().get("/j/not-a-real-token")
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_used_join_link_says_so(founder: Member, sms_outbox: SmsOutbox) -> None:
    do_invite_by_phone(inviter=founder, phone=NUMBER)
    token = sms_outbox.join_token_for(NUMBER)
    newcomer = Client()
    newcomer.post(f"/j/{token}", {
        "phone": NUMBER, "display_name": "Boris", "password": PASSWORD, "language": "en",
    })
    confirmed = newcomer.post("/join/confirm/", {"code": sms_outbox.code_for(NUMBER)})
    assert confirmed.status_code == 302
    again = Client().get(f"/j/{token}")
    assert again.status_code == 410
    assert "already been used" in again.content.decode()


def test_join_form_shows_field_errors_and_writes_nothing(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    do_invite_by_phone(inviter=founder, phone=NUMBER)
    token = sms_outbox.join_token_for(NUMBER)
    landline = Client().post(f"/j/{token}", {
        "phone": "+7 301 123-45-67", "display_name": "Eve", "password": PASSWORD,
        "language": "en",
    })
    assert landline.status_code == 200
    assert "landline" in landline.content.decode()
    overlong = Client().post(f"/j/{token}", {
        "phone": NUMBER, "display_name": "x" * 500, "password": PASSWORD, "language": "en",
    })
    assert "at most 64 characters" in overlong.content.decode()
    assert PhoneVerification.objects.count() == 0


def test_submitting_the_code_page_again_finds_nothing_to_confirm(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    do_invite_by_phone(inviter=founder, phone=NUMBER)
    newcomer = Client()
    newcomer.post(f"/j/{sms_outbox.join_token_for(NUMBER)}", {
        "phone": NUMBER, "display_name": "Boris", "password": PASSWORD, "language": "en",
    })
    code = sms_outbox.code_for(NUMBER)
    first = newcomer.post("/join/confirm/", {"code": code})
    second = newcomer.post("/join/confirm/", {"code": code})
    assert first["Location"] == "/"
    assert second["Location"] == "/"  # the join is done: the page has nothing left to confirm
    assert Member.objects.filter(display_name="Boris").count() == 1


def test_a_join_refused_at_its_code_leaves_the_newcomer_logged_out(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    # The invitation is revoked while the newcomer waits for the code: the join, the
    # new member and their login are undone together, and the refusal is no page of a
    # member that does not exist.
    invitation = do_invite_by_phone(inviter=founder, phone=NUMBER)
    newcomer = Client()
    newcomer.post(f"/j/{sms_outbox.join_token_for(NUMBER)}", {
        "phone": NUMBER, "display_name": "Boris", "password": PASSWORD, "language": "en",
    })
    do_revoke_invitation(member=founder, invitation_id=invitation.id)
    refused = newcomer.post("/join/confirm/", {"code": sms_outbox.code_for(NUMBER)})
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "already been used or has expired" in page
    assert not refused.context["user"].is_authenticated
    assert "My wall" not in page and "/logout/" not in page
    assert not Member.objects.filter(display_name="Boris").exists()
    assert not MemberSession.objects.filter(member__isnull=False).exclude(
        member=founder
    ).exists()
    assert newcomer.get("/invitations/")["Location"].startswith("/login/")


def test_login_answers_the_same_for_unknown_and_registered_numbers(founder: Member) -> None:
    unknown = Client().post("/login/", {"phone": "+79169999999", "password": PASSWORD})
    wrong = Client().post("/login/", {"phone": "+79160000001", "password": "not it at all"})
    assert unknown.status_code == wrong.status_code == 200
    assert "password is wrong" in unknown.content.decode()
    assert without_csrf(unknown.content).replace("+79169999999", "N") == without_csrf(
        wrong.content
    ).replace("+79160000001", "N")


def test_recovery_answers_the_same_for_unknown_and_registered_numbers(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    answers = []
    for phone in ("+79160000001", "+79169999999"):
        client = Client()
        started = client.post("/recover/", {"phone": phone})
        wrong_code = client.post("/recover/confirm/", {
            "code": "000000", "new_password": "a brand new passphrase",
        })
        answers.append((started.status_code, started["Location"], without_csrf(wrong_code.content)))
    assert answers[0] == answers[1]
    assert len(sms_outbox.deliver()) == 1  # only the registered number got an SMS


def test_logout_needs_post(founder: Member) -> None:
    client = logged_in("+79160000001")
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/invite/").status_code == 302  # back to login


def test_new_member_sees_when_they_can_invite(clock: FrozenClock) -> None:
    make_member(phone=NUMBER, joined_at=clock.current)
    page = logged_in(NUMBER).get("/invite/")
    assert "You can invite from" in page.content.decode()
    assert "<form method=\"post\" novalidate>" not in page.content.decode()


def test_invite_page_sends_and_lists_the_invitation(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    client = logged_in("+79160000001")
    response = client.post("/invite/", {"phone": "8 916 123-45-67", "note": "hi"}, follow=True)
    page = response.content.decode()
    assert "+7 916 ***-**-67" in page
    assert 'data-state="pending"' in page
    assert len(sms_outbox.to(NUMBER)) == 1


def test_admin_is_for_staff_and_shows_numbers_masked(founder: Member) -> None:
    make_member(phone=NUMBER, display_name="Plain Member")
    assert logged_in(NUMBER).get("/admin/").status_code == 302
    members = logged_in("+79160000001").get("/admin/accounts/member/")
    assert members.status_code == 200
    page = members.content.decode()
    assert "+7 916 ***-**-67" in page and "9161234567" not in page


def test_admin_cannot_change_or_delete_invitations_or_grants(founder: Member) -> None:
    """Both are written by actions that audit them; the admin only shows them."""
    from inviteonly.invitations.actions import do_grant_invite_rights, do_invite_by_phone
    from inviteonly.invitations.models import Invitation, InviteRightsGrant

    member = make_member(phone=NUMBER, display_name="Plain Member")
    grant = do_grant_invite_rights(moderator=founder, member=member, reason="Trusted")
    invitation = do_invite_by_phone(inviter=founder, phone="+79165550009")
    admin = logged_in("+79160000001")
    for path, model, pk in (
        ("invitations/inviterightsgrant", InviteRightsGrant, grant.pk),
        ("invitations/invitation", Invitation, invitation.pk),
    ):
        assert admin.get(f"/admin/{path}/{pk}/change/").status_code == 200  # to look at
        assert admin.post(f"/admin/{path}/{pk}/delete/", {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=pk).exists()


def test_admin_adds_no_member_without_a_verified_number(founder: Member) -> None:
    """Members join with a verified number (`inviteonly founder` prints a founder's
    link); an account without a number or password would be a member nobody verified."""
    admin = logged_in("+79160000001")
    assert admin.get("/admin/accounts/member/add/").status_code == 403
    response = admin.post("/admin/accounts/member/add/", {
        "display_name": "Ghost", "language": "en", "role": "founder", "status": "active",
    })
    assert response.status_code == 403
    assert list(Member.objects.all()) == [founder]
    assert "/admin/accounts/member/add/" not in admin.get("/admin/").content.decode()


def admin_change_member(admin: Client, member: Member, **changes: str) -> Any:
    """The member's admin form as it stands, with ``changes``."""
    data = {"display_name": member.display_name, "language": member.language,
            "role": member.role, "status": member.status, **changes}
    return admin.post(f"/admin/accounts/member/{member.id}/change/", data)


def test_a_ban_in_the_admin_is_a_ban_and_lets_nobody_in_through_the_members_links(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """The admin is where operators deal with anyone a moderator may not act on (a
    founder, a moderator): its status field goes through the sanctions, as a moderator's
    decision would — audited, sessions ended, pending invitations revoked."""
    from inviteonly.audit_log.models import AuditAction, AuditEntry
    from inviteonly.moderation.models import Sanction, SanctionKind

    other_founder = make_member(phone=NUMBER, display_name="Founder Boris",
                                role=Member.Role.FOUNDER)
    do_invite_by_phone(inviter=other_founder, phone="+79163330011")
    token = sms_outbox.join_token_for("+79163330011")
    admin = logged_in("+79160000001")
    banned = admin_change_member(admin, other_founder, status="banned", reason="Sold links")
    assert banned.status_code == 302
    other_founder.refresh_from_db()
    assert other_founder.status == Member.Status.BANNED
    ban = Sanction.objects.get(member=other_founder)
    assert (ban.kind, ban.moderator, ban.reason) == (SanctionKind.BAN, founder, "Sold links")
    assert list(
        AuditEntry.objects.filter(target_member=other_founder, actor=founder)
        .order_by("id").values_list("action", flat=True)
    ) == [AuditAction.MEMBER_BANNED, AuditAction.INVITATIONS_REVOKED_BY_BAN]
    assert Client().get(f"/j/{token}").status_code == 410
    # Back to active: the ban ends, kept on the record, and that is audited too.
    admin_change_member(admin, other_founder, status="active", reason="Settled")
    other_founder.refresh_from_db()
    ban.refresh_from_db()
    assert other_founder.status == Member.Status.ACTIVE
    assert (ban.ended_by, ban.upheld, ban.end_reason) == (founder, True, "Settled")
    assert AuditEntry.objects.filter(action=AuditAction.SANCTION_LIFTED,
                                     target_member=other_founder, actor=founder).exists()


def test_a_role_change_in_the_admin_is_audited_and_gives_the_admin_to_founders_only(
    founder: Member,
) -> None:
    from inviteonly.audit_log.models import AuditAction, AuditEntry

    member = make_member(phone=NUMBER, display_name="Soon a moderator")
    admin = logged_in("+79160000001")
    admin_change_member(admin, member, role="moderator", reason="Runs the local group")
    member.refresh_from_db()
    assert (member.role, member.is_staff, member.is_superuser) == ("moderator", False, False)
    entry = AuditEntry.objects.get(action=AuditAction.ROLE_CHANGED)
    assert (entry.actor, entry.target_member) == (founder, member)
    assert entry.details == {"role": "moderator", "previous_role": "member",
                             "reason": "Runs the local group"}
    admin_change_member(admin, member, role="founder", reason="Co-founder now")
    member.refresh_from_db()
    assert (member.role, member.is_staff, member.is_superuser) == ("founder", True, True)
    assert logged_in(NUMBER).get("/admin/").status_code == 200
    admin_change_member(admin, member, role="member", reason="Stepped down")
    member.refresh_from_db()
    assert (member.role, member.is_staff, member.is_superuser) == ("member", False, False)
    assert AuditEntry.objects.filter(action=AuditAction.ROLE_CHANGED).count() == 3
    # A name alone needs no reason and is no decision.
    renamed = admin_change_member(admin, member, display_name="Renamed")
    assert renamed.status_code == 302
    assert AuditEntry.objects.filter(action=AuditAction.ROLE_CHANGED).count() == 3


@pytest.mark.parametrize("name", ["Former member", "Бывший участник", "\u200b\u2066"])
def test_the_admin_holds_a_new_name_to_the_rules_a_member_is_held_to(
    founder: Member, name: str
) -> None:
    """No live member is called what the site calls members who left, nor nothing
    visible, whoever names them; a name the member already has stays editable around."""
    member = make_member(phone=NUMBER, display_name="Plain Member")
    admin = logged_in("+79160000001")
    refused = admin_change_member(admin, member, display_name=name)
    assert refused.status_code == 200
    assert 'class="errorlist' in refused.content.decode()
    member.refresh_from_db()
    assert member.display_name == "Plain Member"
    assert admin_change_member(admin, member, language="ru").status_code == 302
    member.refresh_from_db()
    assert (member.display_name, member.language) == ("Plain Member", "ru")


@pytest.mark.parametrize(("language", "refusal"), [
    ("en", "Write the reason: the member and other moderators see it."),
    ("ru", "Укажите причину: её увидят участник и другие модераторы."),
])
def test_the_admin_refuses_a_role_or_status_change_without_a_reason(
    founder: Member, language: str, refusal: str
) -> None:
    member = make_member(phone=NUMBER, display_name="Plain Member")
    admin = logged_in("+79160000001")
    admin.post("/language/", {"language": language, "next": "/"})
    for change in ({"role": "moderator"}, {"status": "banned"}):
        response = admin_change_member(admin, member, **change)
        assert response.status_code == 200
        assert refusal in response.content.decode()
    member.refresh_from_db()
    assert (member.role, member.status) == ("member", "active")


def test_an_operator_cannot_change_their_own_role_or_status(founder: Member) -> None:
    admin = logged_in("+79160000001")
    page = admin.get(f"/admin/accounts/member/{founder.id}/change/").content.decode()
    assert 'name="status"' not in page and 'name="role"' not in page
    admin_change_member(admin, founder, role="member", status="banned", reason="Oops")
    founder.refresh_from_db()
    assert (founder.role, founder.status, founder.is_superuser) == ("founder", "active", True)


def test_every_admin_label_of_ours_is_translated() -> None:
    """Django makes a label from a field's or an app's name, in English whatever the
    language; each of ours must name itself, translated."""
    from django.apps import apps
    from django.contrib import admin
    from django.core.exceptions import FieldDoesNotExist
    from django.db.models import Field
    from django.utils.functional import Promise

    untranslated = []
    for model, model_admin in admin.site._registry.items():
        config = apps.get_app_config(model._meta.app_label)
        if not config.name.startswith("inviteonly."):
            continue
        if not isinstance(config.verbose_name, Promise):
            untranslated.append(config.label)
        for name in (*(model_admin.fields or ()), *model_admin.list_display):
            try:
                field = model._meta.get_field(str(name))
            except FieldDoesNotExist:
                continue
            assert isinstance(field, Field)
            if not field.primary_key and not isinstance(field.verbose_name, Promise):
                untranslated.append(f"{model._meta.label}.{name}")
    assert untranslated == []


def test_the_admin_pages_are_in_russian(founder: Member, sms_outbox: SmsOutbox) -> None:
    """Labels, app names and object titles: a Russian operator reads no English."""
    from inviteonly.audit_log.models import AuditAction, AuditEntry
    from inviteonly.invitations.actions import do_grant_invite_rights
    from inviteonly.moderation.actions import do_ban_member
    from inviteonly.moderation.models import Sanction, Strike
    from inviteonly.sms.models import OutboundSms

    inviter = make_member(display_name="Пригласивший")
    spammer = make_member(display_name="Спамер", invited_by=inviter)
    do_ban_member(member=spammer, moderator=founder, reason="Спам", for_spam=True)
    grant = do_grant_invite_rights(moderator=founder, member=inviter, reason="Доверие")
    invitation = do_invite_by_phone(inviter=founder, phone=NUMBER)
    do_set_registration_mode(actor=founder, mode="open")
    entry = AuditEntry.objects.filter(action=AuditAction.STRIKE_RECORDED).get()
    admin = logged_in("+79160000001")
    admin.post("/language/", {"language": "ru", "next": "/"})
    objects = {
        "accounts/member": inviter.id, "moderation/sanction": Sanction.objects.get().id,
        "moderation/strike": Strike.objects.get().id, "audit_log/auditentry": entry.id,
        "invitations/invitation": invitation.id, "invitations/inviterightsgrant": grant.id,
        "sms/outboundsms": OutboundSms.objects.get().id, "site_config/siteconfiguration": 1,
    }
    pages = ["/admin/"] + [
        page for path, pk in objects.items()
        for page in (f"/admin/{path}/", f"/admin/{path}/{pk}/change/")
    ]
    english = {}
    for page in pages:
        response = admin.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert "Санкции" in html  # the page is in Russian
        found = [word for word in (
            ">Accounts<", ">Moderation<", ">Audit_Log<", ">Invitations<", ">Site_Config<",
            "Created at", "Target member", "Ip address", ">Actor<", ">Invitee<", ">Member<",
            "Details:", "Expires at", "Recipient masked", "Registration mode", "Updated by",
            "ban →", "strike →", "grant →", " strike_recorded", "invitation →", "(queued)",
            ">pending<",
        ) if word in html]
        if found:
            english[page] = found
    assert english == {}


def test_admin_greets_the_operator_by_name_not_by_the_blind_index(founder: Member) -> None:
    page = logged_in("+79160000001").get("/admin/").content.decode()
    assert "Founder Anna" in page
    assert founder.phone_blind_index not in page


def test_admin_audit_log_filtered_by_action_reads_no_whole_log(founder: Member) -> None:
    """The operators' way to reports about a founder (docs/operations.md): the audit log
    filtered by *Report filed*. Logins and refusals fill the log by the million; the
    page must not read all of it, neither for its rows nor for its counts."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inviteonly.audit_log.models import AuditAction, AuditEntry
    from tests.test_rate_limits import full_scans

    other = make_member(phone=NUMBER, display_name="Plain Member")
    AuditEntry.objects.bulk_create(
        [AuditEntry(action=AuditAction.LOGIN_SUCCEEDED, actor=other) for _ in range(3000)]
        + [AuditEntry(action=AuditAction.REPORT_FILED, actor=other, target_member=founder)
           for _ in range(3)]
    )
    table = AuditEntry._meta.db_table
    with connection.cursor() as cursor:  # what the planner then knows of the table
        cursor.execute(f"ANALYZE {table}")
    admin = logged_in("+79160000001")
    with CaptureQueriesContext(connection) as queries:
        response = admin.get("/admin/audit_log/auditentry/?action=report_filed")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('<td class="field-target_member nowrap">Founder Anna') == 3
    reads = [query["sql"] for query in queries.captured_queries if table in query["sql"]]
    assert reads  # the list and its count
    assert [scan for sql in reads for scan in full_scans(sql, table)] == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="statistics: PostgreSQL's")
def test_admin_audit_log_unfiltered_counts_no_whole_log(founder: Member) -> None:
    """The audit log grows by every login: its first page, unfiltered, must not count
    the whole log on every view. Past ADMIN_COUNT_ESTIMATED_FROM entries the page says
    about how many from PostgreSQL's statistics; a filtered page counts its own entries
    exactly, and a log smaller than that is counted."""
    from django.test.utils import CaptureQueriesContext

    from inviteonly.audit_log.models import AuditAction, AuditEntry

    other = make_member(phone=NUMBER, display_name="Plain Member")
    AuditEntry.objects.bulk_create(
        [AuditEntry(action=AuditAction.LOGIN_SUCCEEDED, actor=other) for _ in range(3000)]
        + [AuditEntry(action=AuditAction.REPORT_FILED, actor=other, target_member=founder)
           for _ in range(3)]
    )
    table = AuditEntry._meta.db_table
    with connection.cursor() as cursor:  # what the statistics then say of the table
        cursor.execute(f"ANALYZE {table}")
    admin = logged_in("+79160000001")  # one more entry, unknown to the statistics

    def counts(path: str) -> tuple[Any, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            response = admin.get(path)
        assert response.status_code == 200
        return response, [query["sql"] for query in queries.captured_queries
                          if "COUNT(" in query["sql"].upper() and table in query["sql"]]

    with override_settings(ADMIN_COUNT_ESTIMATED_FROM=1000):
        unfiltered, counted = counts("/admin/audit_log/auditentry/")
        assert counted == []
        assert unfiltered.context["cl"].result_count == 3003
        assert "about 3003" in without_csrf(unfiltered.content)
        admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
        assert "около 3003" in without_csrf(counts("/admin/audit_log/auditentry/")[0].content)
        admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        assert len(unfiltered.context["cl"].result_list) == 100
        filtered, counted = counts("/admin/audit_log/auditentry/?action=report_filed")
        assert len(counted) == 1
        assert filtered.context["cl"].result_count == 3
        assert "about" not in without_csrf(filtered.content).split('class="paginator"')[1]

    with override_settings(ADMIN_COUNT_ESTIMATED_FROM=5000):
        small, counted = counts("/admin/audit_log/auditentry/")
        assert len(counted) == 1
        assert small.context["cl"].result_count == 3004  # the login: counted, not estimated


@pytest.mark.skipif(connection.vendor != "postgresql", reason="statistics: PostgreSQL's")
def test_admin_audit_log_pages_past_a_stale_estimate_reach_the_oldest_entries(
    founder: Member,
) -> None:
    """The statistics lag behind the table (autovacuum analyses it after a tenth of it
    changed): a log that grew since still pages to its end. The page the estimate
    calls the last is full, and the pages past it open (not "?e=1"), the last one
    holding the oldest entry."""
    from inviteonly.audit_log.models import AuditAction, AuditEntry

    other = make_member(phone=NUMBER, display_name="Plain Member")
    AuditEntry.objects.bulk_create(  # the estimate's last page: half full
        [AuditEntry(action=AuditAction.LOGIN_SUCCEEDED, actor=other) for _ in range(3050)]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {AuditEntry._meta.db_table}")
    AuditEntry.objects.bulk_create(  # since the statistics
        [AuditEntry(action=AuditAction.LOGIN_SUCCEEDED, actor=other) for _ in range(250)]
    )
    admin = logged_in("+79160000001")
    total = AuditEntry.objects.count()
    oldest = AuditEntry.objects.order_by("created_at", "id").first()
    assert oldest is not None
    per_page = 100
    with override_settings(ADMIN_COUNT_ESTIMATED_FROM=1000):
        first = admin.get("/admin/audit_log/auditentry/")
        assert first.status_code == 200
        estimated_last = first.context["cl"].paginator.num_pages
        last = -(-total // per_page)
        assert estimated_last < last  # what the statistics make of it
        at_estimate = admin.get(f"/admin/audit_log/auditentry/?p={estimated_last}")
        assert at_estimate.status_code == 200
        assert len(at_estimate.context["cl"].result_list) == per_page
        end = admin.get(f"/admin/audit_log/auditentry/?p={last}")
        assert end.status_code == 200, end.get("Location")
        rows = end.context["cl"].result_list
        assert len(rows) == total - (last - 1) * per_page
        assert oldest.id in [row.id for row in rows]
        assert f"{total} " in without_csrf(end.content).split('class="paginator"')[1]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="statistics: PostgreSQL's")
def test_admin_audit_log_page_an_estimate_promised_past_the_end_shows_the_last(
    founder: Member,
) -> None:
    """Statistics that count more rows than the table holds (a sample's error, rows
    deleted since) link to pages past its end: such a page shows the last one, the
    oldest entry on it, not an error (?e=1)."""
    from inviteonly.audit_log.models import AuditAction, AuditEntry

    other = make_member(phone=NUMBER, display_name="Plain Member")
    AuditEntry.objects.bulk_create(
        [AuditEntry(action=AuditAction.LOGIN_SUCCEEDED, actor=other) for _ in range(3050)]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {AuditEntry._meta.db_table}")
    newest = AuditEntry.objects.order_by("-id").values_list("id", flat=True)[:400]
    AuditEntry.objects.filter(id__in=list(newest)).delete()  # since the statistics
    admin = logged_in("+79160000001")
    oldest = AuditEntry.objects.order_by("created_at", "id").first()
    assert oldest is not None
    total = AuditEntry.objects.count()
    with override_settings(ADMIN_COUNT_ESTIMATED_FROM=1000):
        first = admin.get("/admin/audit_log/auditentry/")
        promised_last = first.context["cl"].paginator.num_pages
        assert promised_last > -(-total // 100)  # what the statistics make of it
        assert f"?p={promised_last}" in without_csrf(first.content)
        end = admin.get(f"/admin/audit_log/auditentry/?p={promised_last}")
        assert end.status_code == 200, end.get("Location")
        assert oldest.id in [row.id for row in end.context["cl"].result_list]


def test_admin_member_list_reads_the_newest_members_by_index(founder: Member) -> None:
    """The admin's member list is the newest first (MemberAdmin.ordering, and the id
    after it, which the admin adds to make the order total): a page of it is the first
    hundred entries of the index member_joined_recent, not a sort of every member."""
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.test_rate_limits import query_plan

    joined = founder.joined_at
    Member.objects.bulk_create([
        Member(display_name=f"Member {n}", phone_blind_index=f"blind index {n}",
               phone_ciphertext=b"", phone_masked="+7 916 ***-**-00",
               joined_at=joined - timedelta(minutes=n))
        for n in range(1, 3001)
    ])
    table = Member._meta.db_table
    with connection.cursor() as cursor:  # what the planner then knows of the table
        cursor.execute(f"ANALYZE {table}")
    admin = logged_in("+79160000001")
    with CaptureQueriesContext(connection) as queries:
        response = admin.get("/admin/accounts/member/")
    assert response.status_code == 200
    assert response.context["cl"].result_list[0] == founder
    [listed] = [query["sql"] for query in queries.captured_queries
                if '"joined_at" DESC' in query["sql"]]
    plan = query_plan(listed)
    if connection.vendor == "postgresql":
        assert not [line for line in plan if re.search(r"\bSort\b", line)], plan
        assert any("Index Scan" in line and "member_joined_recent" in line
                   for line in plan), plan
    else:
        assert not [line for line in plan if "TEMP B-TREE" in line], plan
        assert any("member_joined_recent" in line for line in plan), plan


def test_admin_cannot_delete_an_sms_of_the_outbox(founder: Member) -> None:
    from inviteonly.sms.models import OutboundSms

    do_invite_by_phone(inviter=founder, phone=NUMBER)
    sms = OutboundSms.objects.get()
    admin = logged_in("+79160000001")
    assert admin.get(f"/admin/sms/outboundsms/{sms.pk}/change/").status_code == 200
    deleted = admin.post(f"/admin/sms/outboundsms/{sms.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403
    bulk = admin.post("/admin/sms/outboundsms/", {
        "action": "delete_selected", "_selected_action": [sms.pk], "post": "yes",
    })
    assert bulk.status_code in (200, 302, 403)
    assert OutboundSms.objects.filter(pk=sms.pk).exists()


def test_anonymous_admin_goes_to_phone_login() -> None:
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Fadmin%2F"


def test_the_admin_changes_no_password_itself(founder: Member) -> None:
    """Django's admin password form would skip the site's password rules, audit entry,
    notice and count of guesses: a founder is sent to the member's own page for it, and
    the password stays."""
    client = logged_in("+79160000001")
    password = founder.password
    for path in ("/admin/password_change/", "/admin/password_change/done/"):
        assert client.get(path)["Location"] == "/profile/password/"
    response = client.post("/admin/password_change/", {
        "old_password": PASSWORD, "new_password1": "x" * 300, "new_password2": "x" * 300,
    })
    assert response.status_code == 302 and response["Location"] == "/profile/password/"
    founder.refresh_from_db()
    assert founder.password == password


def test_language_switch_is_remembered_for_the_member(founder: Member) -> None:
    client = logged_in("+79160000001")
    client.post("/language/", {"language": "ru", "next": "/"})
    founder.refresh_from_db()
    assert founder.language == "ru"
    assert "Здравствуйте" in client.get("/").content.decode()


def test_open_join_page_only_in_open_mode(founder: Member) -> None:
    assert Client().get("/join/").status_code == 403
    do_set_registration_mode(actor=founder, mode="open")
    assert Client().get("/join/").status_code == 200


def test_closed_site_says_registration_is_closed(founder: Member) -> None:
    do_set_registration_mode(actor=founder, mode="closed")
    response = Client().get("/join/")
    assert response.status_code == 403
    assert "Registration is closed" in response.content.decode()


def test_login_redirect_stays_on_the_site(founder: Member) -> None:
    # Browsers drop tabs and line breaks in a URL and read a backslash as a slash.
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example",
                   "/\t/evil.example", "/\n/evil.example", "/\r\\evil.example",
                   "///evil.example", " //evil.example", "javascript:alert(1)"):
        response = Client().post(
            f"/login/?next={target}", {"phone": "+79160000001", "password": PASSWORD}
        )
        assert response["Location"] == "/", target


class Elements(HTMLParser):
    """A page's elements: their attributes in order, and the text inside each id."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text_of: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.elements.append((tag, attributes))
        if "id" in attributes:
            self.text_of[attributes["id"]] = ""
        if tag not in self.VOID:
            self._open.append((tag, attributes.get("id")))

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id is not None:
                self.text_of[element_id] += data

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass

    def described_by(self, element_id: str) -> list[str]:
        """The texts an input's aria-describedby points at (a missing id fails)."""
        attributes = next(found for _, found in self.elements if found.get("id") == element_id)
        ids = attributes.get("aria-describedby", "").split()
        missing = [each for each in ids if each not in self.text_of]
        assert not missing, f"{element_id} is described by ids the page lacks: {missing}"
        return ids


def test_a_fields_help_and_errors_are_shown_and_read_out_with_it() -> None:
    """The request form tells the asker not to write contact details — on the page, and
    to a screen reader on the field — and each error is tied to its field."""
    page = Elements(Client().get("/ask/").content.decode())
    assert [each.endswith("_helptext") for each in page.described_by("id_note")] == [True]
    assert "Do not write contact details here" in page.text_of["id_note_helptext"]

    refused = Elements(Client().post("/ask/", {"note": "", "language": "en"}).content.decode())
    for field in ("id_phone", "id_note"):
        errors = [each for each in refused.described_by(field) if each.endswith("_error")]
        assert len(errors) == 1, field
        assert "This field is required" in refused.text_of[errors[0]]
    phone = next(found for _, found in refused.elements if found.get("id") == "id_phone")
    assert phone["aria-invalid"] == "true"


def test_a_group_of_choices_is_named_by_a_legend(founder: Member) -> None:
    """The report form's reasons are radio buttons: the question names the group (a
    fieldset's legend), not a label tied to nothing."""
    other = make_member(display_name="Boris")
    html = logged_in("+79160000001").get(f"/report/profile/{other.id}/").content.decode()
    page = Elements(html)
    assert not [found for tag, found in page.elements if tag == "label" and not found.get("for")]
    assert re.search(r"<fieldset[^>]*>\s*<legend>Why do you report this\?</legend>", html)


def phone_input(html: str) -> dict[str, str]:
    return next(found for tag, found in Elements(html).elements
                if tag == "input" and found.get("name") == "phone")


def test_a_phone_field_offers_the_members_own_number_only_where_it_is_theirs(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """Autofill offers a person's own number for "tel" fields: right where they type
    their own (log in, recover, join, ask), wrong where they type someone else's — an
    invitee's, a friend's — where one tap would invite themselves."""
    own = ["/login/", "/recover/", "/ask/"]
    do_invite_by_phone(inviter=founder, phone=NUMBER)
    own.append(f"/j/{sms_outbox.join_token_for(NUMBER)}")
    for path in own:
        field = phone_input(Client().get(path).content.decode())
        assert (field["autocomplete"], field["inputmode"], field["type"]) == (
            "tel", "tel", "tel"), path
    member = logged_in("+79160000001")
    for path in ("/invite/", "/friends/"):
        field = phone_input(member.get(path).content.decode())
        assert (field["autocomplete"], field["inputmode"], field["type"]) == (
            "off", "tel", "tel"), path


def test_a_russian_sentence_ending_in_a_date_ends_in_one_full_stop(
    founder: Member, sms_outbox: SmsOutbox
) -> None:
    """Django's Russian dates end in "г." ("7 декабря 2026 г."): every sentence of ours
    that ends in a date ended in "г.." — after an invitation, on the invite page, in
    notices. The site writes Russian dates as "7 декабря 2026"."""
    from django.utils import formats, translation

    client = logged_in("+79160000001")
    client.post("/language/", {"language": "ru", "next": "/"})
    page = client.post("/invite/", {"phone": NUMBER}, follow=True).content.decode()
    with translation.override("ru"):
        valid_until = formats.date_format(
            Invitation.objects.get().expires_at, "DATE_FORMAT")
    assert re.fullmatch(r"\d{1,2} [а-я]+ \d{4}", valid_until)
    assert f"Оно действует до {valid_until}." in page
    assert "г.." not in page
    again = client.post("/invite/", {"phone": NUMBER}).content.decode()
    assert f"Приглашение действует до {valid_until}." in again


def test_an_english_short_date_names_its_month(founder: Member, sms_outbox: SmsOutbox) -> None:
    """Django's English short dates are American ("12/01/2026"): a reader elsewhere
    takes the invitation sent on 1 December for one sent on 12 January. The tables
    name the month ("Dec 1, 2026"), as the sentences above them do."""
    from django.utils import formats, translation

    client = logged_in("+79160000001")
    client.post("/invite/", {"phone": NUMBER})
    invitation = Invitation.objects.get()
    with translation.override("en"):
        sent = formats.date_format(invitation.created_at, "SHORT_DATE_FORMAT")
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", sent)
    for path in ("/invitations/", "/profile/sessions/"):
        page = client.get(path).content.decode()
        assert not re.search(r"\b\d{2}/\d{2}/\d{4}\b", page), path
        assert sent in page, path


@pytest.mark.parametrize(("language", "back"), [
    ("en", "Back to my profile"), ("ru", "Назад к профилю"),
])
def test_the_profiles_settings_pages_lead_back_to_it(
    founder: Member, language: str, back: str
) -> None:
    """The sessions page led back to the profile page it is opened from; the password
    and leaving pages, opened from the same place, had no way back but the menu."""
    client = logged_in("+79160000001")
    client.post("/language/", {"language": language, "next": "/"})
    for path in ("/profile/sessions/", "/profile/password/", "/profile/leave/"):
        page = client.get(path).content.decode()
        assert f'<a href="/profile/">{back}</a>' in page, path


@pytest.mark.parametrize(("language", "rule"), [
    ("en", "At least 8 characters."), ("ru", "Не меньше 8 символов."),
])
def test_a_new_password_field_says_how_long_before_it_is_refused(
    founder: Member, sms_outbox: SmsOutbox, language: str, rule: str
) -> None:
    """Joining, recovering and changing a password told the shortest length only in
    the refusal of a password shorter."""
    invitation = do_invite_by_phone(inviter=founder, phone=NUMBER)
    assert invitation
    client = logged_in("+79160000001")
    client.post("/language/", {"language": language, "next": "/"})
    changing = client.get("/profile/password/").content.decode()
    joining = Client(HTTP_ACCEPT_LANGUAGE=language).get(
        f"/j/{sms_outbox.join_token_for(NUMBER)}").content.decode()
    recovering = Client(HTTP_ACCEPT_LANGUAGE=language)
    recovering.post("/recover/", {"phone": "+79160000001"})
    for page, name in ((changing, "new_password"), (joining, "password"),
                       (recovering.get("/recover/confirm/").content.decode(), "new_password")):
        assert f'<small class="help" id="id_{name}_helptext">{rule}</small>' in page
        assert f'aria-describedby="id_{name}_helptext"' in page
    assert "current_password_helptext" not in changing


def test_the_focus_goes_to_the_first_refused_field(founder: Member) -> None:
    """The code field is focused on arrival; once the new password is refused, that one
    is, and only that one (a browser focuses the first autofocus of a page)."""
    client = Client()
    client.post("/recover/", {"phone": "+79160000001"})
    arriving = Elements(client.get("/recover/confirm/").content.decode())
    assert [found["name"] for _, found in arriving.elements if "autofocus" in found] == [
        "code"]
    refused = Elements(client.post("/recover/confirm/", {
        "code": "123456", "new_password": ""}).content.decode())
    assert [found["name"] for _, found in refused.elements if "autofocus" in found] == [
        "new_password"]


def test_admin_filtered_member_list_counts_only_what_the_filter_finds(founder: Member) -> None:
    """A filtered member list counts its own members once; it does not count every
    member again for a "(N total)" beside it (show_full_result_count)."""
    from django.test.utils import CaptureQueriesContext

    make_member(phone=NUMBER, display_name="Plain Member")
    admin = logged_in("+79160000001")
    table = Member._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        response = admin.get("/admin/accounts/member/?role__exact=member")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    counts = [query["sql"] for query in queries.captured_queries
              if "COUNT(" in query["sql"].upper() and f'FROM "{table}"' in query["sql"]]
    assert len(counts) == 1, counts


@pytest.mark.parametrize(("language", "heading"), [
    ("en", "Join inviteonly"), ("ru", "Присоединяйтесь к inviteonly"),
])
def test_the_open_join_page_refused_speaks_of_no_link(
    founder: Member, language: str, heading: str
) -> None:
    """/join/ on a site that is not open has no link in it, but was headed "This link
    does not work" above "You can join only with an invitation"; an invitation link that
    does not work still says so."""
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    refused = client.get("/join/").content.decode()
    assert re.findall(r"<h1>([^<]*)</h1>", refused) == [heading]
    bad_link = client.get("/j/not-a-token").content.decode()
    assert re.findall(r"<h1>([^<]*)</h1>", bad_link) == [
        {"en": "This link does not work", "ru": "Эта ссылка не работает"}[language]]


AGAIN_BY_LINK = {
    "en": "open the link from the invitation SMS again",
    "ru": "снова откройте ссылку из SMS с приглашением",
}
START_AGAIN = {"en": "Start again", "ru": "Начать заново"}


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("typed", [NUMBER, "+79161234500"])
def test_the_join_code_page_says_how_to_start_again(
    founder: Member, sms_outbox: SmsOutbox, language: str, typed: str
) -> None:
    """A newcomer who mistyped their number waits for a code that never comes, and an
    expired code's refusal says "Start again": the code page offered no way to. It now
    says how — the same words whatever number was typed (the invited one or not)."""
    do_invite_by_phone(inviter=founder, phone=NUMBER)
    newcomer = Client(HTTP_ACCEPT_LANGUAGE=language)
    newcomer.post(f"/j/{sms_outbox.join_token_for(NUMBER)}", {
        "phone": typed, "display_name": "Boris", "password": PASSWORD, "language": language,
    })
    page = newcomer.get("/join/confirm/").content.decode()
    assert AGAIN_BY_LINK[language] in page
    assert f'href="/join/">{START_AGAIN[language]}</a>' not in page

    do_set_registration_mode(actor=founder, mode="open")
    visitor = Client(HTTP_ACCEPT_LANGUAGE=language)
    visitor.post("/join/", {
        "phone": typed, "display_name": "Vera", "password": PASSWORD, "language": language,
    })
    page = visitor.get("/join/confirm/").content.decode()
    assert f'<a href="/join/">{START_AGAIN[language]}</a>' in page
    assert AGAIN_BY_LINK[language] not in page


AGAIN_BY_FOUNDER_LINK = {
    "en": "open the founder link you were given again",
    "ru": "снова откройте ссылку основателя, которую вам дали",
}


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("bound_to", [None, NUMBER])
def test_the_founders_code_page_says_to_open_the_founder_link_again(
    language: str, bound_to: str | None
) -> None:
    """A founder link is printed by `inviteonly serve` or `inviteonly founder`, never
    sent by SMS: the code page told the founder to open "the invitation SMS" again."""
    _invitation, token = do_create_founder_invitation(phone=bound_to, bootstrap=True)
    founder = Client(HTTP_ACCEPT_LANGUAGE=language)
    founder.post(f"/j/{token}", {
        "phone": NUMBER, "display_name": "Anna", "password": PASSWORD, "language": language,
    })
    page = founder.get("/join/confirm/").content.decode()
    assert AGAIN_BY_FOUNDER_LINK[language] in page
    assert AGAIN_BY_LINK[language] not in page
    assert f'href="/join/">{START_AGAIN[language]}</a>' not in page


def test_the_language_buttons_are_named_in_their_own_language(client: Client) -> None:
    """Read in their own language by a screen reader; the name holds the visible code."""
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'lang="ru" aria-label="Русский (RU)"' in html
    assert 'lang="en" aria-label="English (EN)"' in html


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_founder_link_does_not_speak_of_an_invitation_sms(language: str) -> None:
    """A founder link is printed by `inviteonly serve` or `inviteonly founder`: its
    join page asks for the founder's own number, not "the number that received the
    invitation"."""
    _invitation, token = do_create_founder_invitation(phone=None, bootstrap=True)
    page = Client(HTTP_ACCEPT_LANGUAGE=language).get(f"/j/{token}").content.decode()
    received = {"en": "received the invitation", "ru": "пришло приглашение"}[language]
    yours = {
        "en": "Enter your mobile number. We will send a code to it",
        "ru": "Мы отправим на него код, чтобы убедиться",
    }[language]
    assert received not in page
    assert yours in page
