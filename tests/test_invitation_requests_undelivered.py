"""A granted request whose invitation SMS fails for good (the gateway refuses the
number, a delivery report says it never arrived, the workers give up on it, or the
gateway stays down past SMS_MAX_AGE): the invitation is revoked and its allowance
given back at once, the granter is told without any number, and the requester's
status says what happened and what to do. A failure that is retried and then goes
through changes nothing of this."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.utils import translation

from inviteonly.accounts.models import Member
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitation_requests.actions import (
    do_grant_invitation_request,
    do_request_invitation,
    do_withdraw_invitation_request,
    settle_undelivered_invitations,
)
from inviteonly.invitation_requests.models import InvitationRequest
from inviteonly.invitation_requests.queries import open_requests_for
from inviteonly.invitations.actions import create_invitation
from inviteonly.invitations.allowance import allowance_of
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.queries import access_invitation_by_token
from inviteonly.lib import clock as clock_module
from inviteonly.lib import crypto
from inviteonly.lib.errors import ActionError
from inviteonly.lib.phone_numbers import normalize_phone_number
from inviteonly.notifications.models import Notification, NotificationKind
from inviteonly.notifications.queries import recent_notifications
from inviteonly.sms import delivery
from inviteonly.sms.delivery_reports import delivery_report_token
from inviteonly.sms.models import OutboundSms, SmsStatus, SmsStatusForSender
from tests.conftest import ApiClient, FrozenClock, SmsOutbox, make_member
from tests.test_concurrency import race, wait_for_a_lock_waiter
from tests.test_invitation_requests import (
    ASKER,
    GRANTER,
    OTHER_ASKER,
    ask,
    granter_api,
    request_id_of,
    withdraw,
)
from tests.test_sms_delivery_reports import through_kannel

pytestmark = pytest.mark.django_db


def refused_by_the_gateway(sms_outbox: SmsOutbox, clock: FrozenClock) -> None:
    sms_outbox.gateway.refused_numbers.add(ASKER)
    sms_outbox.deliver()


def reported_not_delivered(sms_outbox: SmsOutbox, clock: FrozenClock) -> None:
    """Kannel took it, then reported that the phone never got it (DLR 16)."""
    through_kannel()
    message = OutboundSms.objects.get(status=SmsStatus.SENT)
    token = delivery_report_token(message.id, gateway="kannel")
    answer = Client().get(f"/sms/kannel/{message.id}/{token}/", {"type": "16"})
    assert answer.status_code == 204


def abandoned_by_workers(sms_outbox: SmsOutbox, clock: FrozenClock) -> None:
    """Every worker that claimed it died; the sweep fails it."""
    for _ in range(settings.SMS_MAX_ATTEMPTS):
        assert len(delivery._claim_batch(10, claim="doomed")) == 1
        clock.advance(minutes=3)
    call_command("sweep", stdout=StringIO())


def gateway_down_past_the_max_age(sms_outbox: SmsOutbox, clock: FrozenClock) -> None:
    sms_outbox.gateway.unavailable = True
    sms_outbox.deliver()
    clock.advance(seconds=settings.SMS_MAX_AGE.total_seconds() + 600)
    sms_outbox.deliver()


FAILURES = [refused_by_the_gateway, reported_not_delivered, abandoned_by_workers,
            gateway_down_past_the_max_age]


def granter() -> Member:
    return Member.objects.get(phone_blind_index=crypto.blind_index(GRANTER))


def grant_by_member(clock: FrozenClock) -> tuple[str, ApiClient]:
    """A request asked and granted by a member with five invitations; its status token
    and the granter's API client."""
    token = ask().json_body["status_token"]
    api = granter_api(clock)
    granted = api.post(f"/invitation-requests/{request_id_of(ASKER)}/grant")
    assert granted.status_code == 201, granted.json_body
    return token, api


def status(token: str) -> Any:
    answer = ApiClient().post("/invitation-requests/status", {"status_token": token})
    assert answer.status_code == 200, answer.json_body
    return answer.json_body


def status_page(token: str, language: str = "en") -> str:
    return Client(HTTP_ACCEPT_LANGUAGE=language).get(f"/ask/{token}").content.decode()


def sms_of(invitation: Invitation) -> OutboundSms:
    assert invitation.sms_id is not None
    return OutboundSms.objects.get(id=invitation.sms_id)


def undelivered_notices() -> list[Notification]:
    return list(Notification.objects.filter(
        kind=NotificationKind.REQUEST_INVITATION_UNDELIVERED
    ))


@pytest.mark.parametrize("fail", FAILURES)
def test_a_failed_invitation_sms_tells_the_requester_and_the_granter(
    clock: FrozenClock, sms_outbox: SmsOutbox, fail: Callable[[SmsOutbox, FrozenClock], None],
) -> None:
    token, api = grant_by_member(clock)
    member = granter()
    assert allowance_of(member, moment=clock.current).available == 4
    invitation = Invitation.objects.get()
    fail(sms_outbox, clock)
    assert sms_of(invitation).status == SmsStatus.FAILED
    # The requester's status says so, and when...
    answer = status(token)
    assert answer["state"] == "invitation_undelivered"
    assert answer["invitation_undelivered_at"] == clock.current.isoformat().replace(
        "+00:00", "Z"
    )
    assert answer["granted_at"] is not None
    # ...the invitation is revoked (nobody got its link) and its allowance is back now,
    # not when it would have expired...
    invitation.refresh_from_db()
    assert invitation.revoked_at == clock.current
    assert invitation.allowance_refunded_at == clock.current
    assert allowance_of(member, moment=clock.current).available == 5
    # ...the granter is told, with no number...
    (notice,) = undelivered_notices()
    assert notice.member == member and notice.read_at is None
    # ...and the request stays off the list: granted again, the SMS would fail again.
    assert open_requests_for(member).count() == 0
    assert api.get("/invitation-requests").json_body["items"] == []
    assert AuditEntry.objects.filter(
        action=AuditAction.INVITATION_UNDELIVERED, invitation=invitation, actor=None
    ).count() == 1


def test_a_retried_failure_that_then_goes_through_changes_nothing(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    token, _api = grant_by_member(clock)
    sms_outbox.gateway.unavailable = True
    assert sms_outbox.deliver() == []
    invitation = Invitation.objects.get()
    assert sms_of(invitation).status == SmsStatus.QUEUED
    assert status(token)["state"] == "granted"
    sms_outbox.gateway.unavailable = False
    clock.advance(minutes=10)
    call_command("sweep", stdout=StringIO())
    assert len(sms_outbox.to(ASKER)) == 1
    assert sms_of(invitation).status == SmsStatus.SENT
    call_command("sweep", stdout=StringIO())
    answer = status(token)
    assert (answer["state"], answer["invitation_undelivered_at"]) == ("granted", None)
    invitation.refresh_from_db()
    assert invitation.revoked_at is None and invitation.allowance_refunded_at is None
    assert allowance_of(granter(), moment=clock.current).available == 4
    assert undelivered_notices() == []
    assert not AuditEntry.objects.filter(action=AuditAction.INVITATION_UNDELIVERED).exists()
    # The link in the SMS works.
    assert access_invitation_by_token(sms_outbox.join_token_for(ASKER)).id == invitation.id


@pytest.mark.parametrize(
    ("language", "state", "said", "notice", "listed"),
    [
        ("en", "Invitation SMS not delivered",
         "the invitation SMS could not be delivered to the number you gave",
         "The SMS with the invitation you sent on a request could not be delivered.",
         "Not delivered to the number of the request."),
        ("ru", "SMS с приглашением не доставлено",
         "SMS с приглашением не удалось доставить на указанный вами номер",
         "SMS с приглашением, которое вы отправили по запросу, не удалось доставить.",
         "Не доставлено на номер из запроса."),
    ],
)
def test_the_status_page_and_the_notice_say_what_to_do_in_the_readers_language(
    clock: FrozenClock, sms_outbox: SmsOutbox, language: str, state: str, said: str,
    notice: str, listed: str,
) -> None:
    token, _api = grant_by_member(clock)
    refused_by_the_gateway(sms_outbox, clock)
    page = status_page(token, language)
    assert 'data-state="invitation_undelivered"' in page
    assert state in page and said in page
    assert 'data-testid="invitation-undelivered"' in page
    # What to do: check the number, withdraw, ask again — the withdraw form is there.
    assert f'action="/ask/{token}/withdraw"' in page
    assert 'data-testid="withdraw-request"' in page
    with translation.override(language):
        (shown,) = recent_notifications(granter())
    assert shown.text.startswith(notice)
    # The granter's list says so too, without the advice for a number they typed
    # ("tell them another way", "check the number"): they know neither.
    home = Client(HTTP_ACCEPT_LANGUAGE=language)
    home.force_login(granter())
    invitations = home.get("/invitations/").content.decode()
    assert 'data-sms-status="not_delivered_on_request"' in invitations
    assert listed in invitations
    with translation.override(language):
        assert str(SmsStatusForSender.NOT_DELIVERED.label) not in invitations
    # Neither the requester's number nor any part of it reaches the granter.
    for where in (shown.text, home.get("/").content.decode(),
                  home.get("/invitations/").content.decode()):
        for part in ("1112233", "111-22-33", "***-**-33"):
            assert part not in where


def test_a_members_number_and_a_strangers_end_alike_when_the_gateway_stays_down(
    founder: Member, clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """A member's number is granted a suppressed SMS, which takes its gateway's state:
    down past SMS_MAX_AGE it fails as a stranger's does, and both requesters read the
    same page (the other way round, it would tell whoever asked for a member's number
    that its owner is a member)."""
    make_member(phone=ASKER)
    tokens = [ask().json_body["status_token"], ask(phone=OTHER_ASKER).json_body["status_token"]]
    # The stranger's first: the worker meets the gateway down on it, before it takes
    # the member's (tests/test_sms_delivery.py has the other order).
    for phone in (OTHER_ASKER, ASKER):
        do_grant_invitation_request(member=founder, request_id=request_id_of(phone))
    gateway_down_past_the_max_age(sms_outbox, clock)
    assert set(OutboundSms.objects.values_list("suppressed", "status")) == {
        (True, SmsStatus.FAILED), (False, SmsStatus.FAILED)
    }
    pages = []
    for token in tokens:
        assert status(token)["state"] == "invitation_undelivered"
        page = status_page(token).replace(token, "")
        pages.append(re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", page))
    assert pages[0] == pages[1]
    # A founder spends no allowance; the notice comes all the same, once per request.
    assert [notice.member for notice in undelivered_notices()] == [founder, founder]


def test_a_failure_is_settled_once_however_often_it_is_reported(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    token, _api = grant_by_member(clock)
    reported_not_delivered(sms_outbox, clock)
    message = OutboundSms.objects.get()
    report_token = delivery_report_token(message.id, gateway="kannel")
    for report_type in ("16", "2"):  # the gateway reports again
        Client().get(f"/sms/kannel/{message.id}/{report_token}/", {"type": report_type})
    clock.advance(hours=1)
    call_command("sweep", stdout=StringIO())
    assert len(undelivered_notices()) == 1
    assert allowance_of(granter(), moment=clock.current).available == 5
    assert AuditEntry.objects.filter(action=AuditAction.INVITATION_UNDELIVERED).count() == 1
    # Its invitation was refunded now: its expiry gives nothing more back.
    clock.advance(days=8)
    call_command("sweep", stdout=StringIO())
    assert allowance_of(granter(), moment=clock.current).available == 5
    assert status(token)["state"] == "invitation_undelivered"


def test_the_sweep_settles_a_failure_whose_worker_stopped_before_settling_it(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """The failure is recorded first, then settled: a worker that dies in between
    leaves it to the next sweep."""
    token, _api = grant_by_member(clock)
    OutboundSms.objects.update(status=SmsStatus.FAILED, last_error="refused")
    assert status(token)["state"] == "granted"
    call_command("sweep", stdout=StringIO())
    assert status(token)["state"] == "invitation_undelivered"
    assert len(undelivered_notices()) == 1
    assert allowance_of(granter(), moment=clock.current).available == 5


def test_an_invitation_revoked_before_its_sms_went_out_is_no_undelivered_one(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """Its SMS is failed unsent (the link is dead), but the granter revoked it: the
    request waits again, and nobody is told of a failure."""
    token, api = grant_by_member(clock)
    sms_outbox.gateway.unavailable = True
    sms_outbox.deliver()
    invitation = Invitation.objects.get()
    assert api.post(f"/invitations/{invitation.id}/revoke").status_code == 200
    sms_outbox.gateway.unavailable = False
    clock.advance(minutes=10)
    assert sms_outbox.deliver() == []
    assert OutboundSms.objects.get().status == SmsStatus.FAILED
    call_command("sweep", stdout=StringIO())
    answer = status(token)
    assert (answer["state"], answer["invitation_undelivered_at"]) == ("waiting", None)
    assert undelivered_notices() == []
    assert allowance_of(granter(), moment=clock.current).available == 4  # at expiry


def test_a_failure_after_the_requester_joined_changes_nothing(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    """A late "not delivered" report for an SMS whose link was used: it did arrive."""
    from tests.test_invitation_requests import join_with_sms

    token, _api = grant_by_member(clock)
    join_with_sms(ASKER, sms_outbox)
    message = sms_of(Invitation.objects.get())
    OutboundSms.objects.filter(id=message.id).update(status=SmsStatus.FAILED)
    call_command("sweep", stdout=StringIO())
    assert status(token)["state"] == "granted"
    assert undelivered_notices() == []
    assert allowance_of(granter(), moment=clock.current).available == 4


def test_the_requester_withdraws_and_asks_again_with_the_right_number(
    clock: FrozenClock, sms_outbox: SmsOutbox
) -> None:
    token, api = grant_by_member(clock)
    refused_by_the_gateway(sms_outbox, clock)
    assert withdraw(token).status_code == 204
    assert InvitationRequest.objects.count() == 0
    invitation = Invitation.objects.get()
    assert (invitation.phone_ciphertext, invitation.phone_masked) == (None, "")
    # Asked again with the right number, the request is listed and can be granted.
    token = ask(phone=OTHER_ASKER).json_body["status_token"]
    (listed,) = api.get("/invitation-requests").json_body["items"]
    assert api.post(f"/invitation-requests/{listed['id']}/grant").status_code == 201
    assert len(sms_outbox.to(OTHER_ASKER)) == 1
    assert status(token)["state"] == "granted"
    with pytest.raises(ActionError):
        do_grant_invitation_request(member=granter(), request_id=listed["id"])


@pytest.mark.django_db(transaction=True)
def test_settling_a_failure_racing_withdrawals_and_settlements_is_done_once_or_not_at_all(
    sms_outbox: SmsOutbox,
) -> None:
    """Whichever comes first: the request ends deleted, its invitation revoked, and of
    the settlements at most one notifies and gives back."""
    submitted = do_request_invitation(phone=ASKER, note="Chess on Thursdays", language="en")
    member = make_member(phone=GRANTER, joined_at=clock_module.now() - timedelta(days=60))
    do_grant_invitation_request(member=member, request_id=submitted.request.id)
    OutboundSms.objects.update(status=SmsStatus.FAILED, last_error="refused")
    outcomes = race([
        partial(do_withdraw_invitation_request, token=submitted.status_token),
        *(partial(settle_undelivered_invitations) for _ in range(3)),
    ])
    assert not [outcome for outcome in outcomes if outcome.startswith("crash")], outcomes
    assert InvitationRequest.objects.count() == 0
    assert Invitation.objects.get().revoked_at is not None
    notices = len(undelivered_notices())
    assert notices in (0, 1)
    # Given back now if settled first, else when it would have expired.
    assert allowance_of(member, moment=clock_module.now()).available == 4 + notices


@pytest.mark.django_db(transaction=True)
def test_settling_a_failure_while_its_granter_sends_an_invitation_never_deadlocks(
    sms_outbox: SmsOutbox,
) -> None:
    """An invitation locks its inviter, then writes their allowance; the settlement of
    their failed one writes the allowance and notifies them (which waits for the
    inviter's lock on PostgreSQL). It waits for the inviter before anything else, so
    neither waits for the other: both go through."""
    submitted = do_request_invitation(phone=ASKER, note="Chess on Thursdays", language="en")
    member = make_member(phone=GRANTER, joined_at=clock_module.now() - timedelta(days=60))
    do_grant_invitation_request(member=member, request_id=submitted.request.id)
    OutboundSms.objects.update(status=SmsStatus.FAILED, last_error="refused")
    holding = threading.Event()
    outcomes: dict[str, str] = {}

    def invite() -> None:
        try:
            with transaction.atomic():
                # create_invitation's own first lock, held a moment longer.
                list(Member.objects.select_for_update().filter(id=member.id))
                holding.set()
                wait_for_a_lock_waiter()
                create_invitation(inviter=member, number=normalize_phone_number(OTHER_ASKER),
                                  note="", ip_address=None)
            outcomes["invite"] = "invited"
        except Exception as error:
            outcomes["invite"] = repr(error)
        finally:
            holding.set()
            connection.close()

    def settle() -> None:
        try:
            outcomes["settle"] = str(settle_undelivered_invitations())
        except Exception as error:
            outcomes["settle"] = repr(error)
        finally:
            connection.close()

    inviting = threading.Thread(target=invite)
    inviting.start()
    holding.wait(20)
    settling = threading.Thread(target=settle)
    settling.start()
    for thread in (inviting, settling):
        thread.join(60)
    assert outcomes == {"invite": "invited", "settle": "1"}
    assert len(undelivered_notices()) == 1
