"""Migration invitation_requests.0003 lists every open request, and reopens the requests
granted before this upgrade whose invitation was then revoked: the code of the time
left them "granted", off the list for good, with a dead link."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from inviteonly.accounts.models import Member
from inviteonly.invitation_requests.models import InvitationRequest
from inviteonly.invitation_requests.queries import open_requests_for
from inviteonly.lib import clock, crypto
from tests.conftest import ApiClient, make_member, migrate

# Before today's invitation-request changes.
BEFORE = [("invitation_requests", "0001_initial"), ("invitations", "0003_allowance_and_grants")]
DAY = timedelta(days=1)


@pytest.fixture
def before_the_upgrade(transactional_db: None) -> Iterator[None]:
    migrate(*BEFORE)
    yield
    migrate()


@pytest.mark.usefixtures("before_the_upgrade")
def test_requests_whose_invitation_was_revoked_before_the_upgrade_wait_again(
    founder: Member,
) -> None:
    apps = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    old_invitations = apps.get_model("invitations", "Invitation").objects
    old_requests = apps.get_model("invitation_requests", "InvitationRequest").objects
    now = clock.now()
    inviter = make_member(phone="+79165550000")

    def granted_request(phone: str, *, expires_in: timedelta, **invitation: Any) -> int:
        index = crypto.blind_index(phone)
        ciphertext = crypto.encrypt(phone, purpose=crypto.Purpose.PHONE_NUMBER)
        sent = old_invitations.create(
            inviter_id=inviter.id, token_digest=crypto.blind_index(phone + "token"),
            phone_blind_index=index, phone_ciphertext=ciphertext,
            phone_masked="+7 916 ***-**-00", created_at=now - 2 * DAY,
            **{"expires_at": now + 5 * DAY, **invitation},
        )
        return int(old_requests.create(
            status_token_digest=crypto.blind_index(phone + "status"), phone_blind_index=index,
            phone_ciphertext=ciphertext, region="RU", language="ru", note=f"From {phone}",
            listed=False, created_at=now - 3 * DAY, expires_at=now + expires_in,
            granted_by_id=inviter.id, granted_at=now - 2 * DAY, invitation_id=sent.id,
        ).id)

    revoked = granted_request("+79161110001", expires_in=27 * DAY, revoked_at=now - DAY)
    revoked_and_ended = granted_request(
        "+79161110002", expires_in=-DAY, revoked_at=now - 1.5 * DAY
    )
    pending = granted_request("+79161110003", expires_in=27 * DAY)
    # Expired, then revoked by a branch ban: its link died of age, as any grant's may.
    expired = granted_request(
        "+79161110005", expires_in=27 * DAY, expires_at=now - DAY, revoked_at=now
    )
    redeemed = granted_request(
        "+79161110004", expires_in=27 * DAY, redeemed_at=now - DAY, revoked_at=None
    )

    migrate()

    reopened = InvitationRequest.objects.get(id=revoked)
    assert (reopened.granted_at, reopened.granted_by_id, reopened.invitation_id) == (
        None, None, None
    )
    assert reopened.invitation_withdrawn_at == now - DAY
    assert reopened.listed
    assert [request.id for request in open_requests_for(founder)] == [revoked]
    ended = InvitationRequest.objects.get(id=revoked_and_ended)
    assert (ended.granted_at, ended.invitation_withdrawn_at, ended.listed) == (
        None, now - 1.5 * DAY, False
    )
    for untouched in (pending, redeemed, expired):
        request = InvitationRequest.objects.get(id=untouched)
        assert request.granted_at == now - 2 * DAY and request.invitation_id is not None
        assert not request.listed and request.invitation_withdrawn_at is None
    # Granted again, the reopened request invites its asker.
    api = ApiClient()
    api.log_in("+79160000001")
    assert api.post(f"/invitation-requests/{revoked}/grant").status_code == 201
