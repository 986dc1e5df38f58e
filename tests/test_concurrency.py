"""Races: one invitation token redeemed by 20 requests at once makes exactly one member."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from inviteonly.accounts.actions import do_confirm_join, do_start_join
from inviteonly.accounts.models import Member
from inviteonly.invitations.actions import do_invite_by_phone
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.queries import access_invitation_by_token
from inviteonly.lib.errors import ActionError
from tests.conftest import PASSWORD, SmsOutbox, make_member

NUMBER = "+79161234567"
RACERS = 20


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_redemptions_of_one_token_create_one_member(
    sms_outbox: SmsOutbox,
) -> None:
    founder = make_member(role=Member.Role.FOUNDER)
    do_invite_by_phone(inviter=founder, phone=NUMBER)
    invitation = access_invitation_by_token(sms_outbox.join_token_for(NUMBER))
    # Twenty people who all hold the link and the phone: each has a live code.
    attempts = []
    for index in range(RACERS):
        started = do_start_join(
            invitation=invitation, phone=NUMBER, display_name=f"Racer {index}",
            password=PASSWORD, language="en",
        )
        attempts.append((started.verification.id, sms_outbox.code_for(NUMBER)))

    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def race(verification_id: int, code: str) -> None:
        try:
            barrier.wait()
            do_confirm_join(verification_id=verification_id, code=code)
            outcome = "joined"
        except ActionError as error:
            outcome = error.code
        except Exception as error:
            outcome = f"crash: {error!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=race, args=attempt) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(outcomes) == RACERS
    assert outcomes.count("joined") == 1, outcomes
    assert set(outcomes) <= {"joined", "invitation_used", "phone_taken"}, outcomes
    assert Member.objects.exclude(id=founder.id).count() == 1
    redeemed = Invitation.objects.get(id=invitation.id)
    assert redeemed.redeemed_by is not None
    assert redeemed.redeemed_by.display_name.startswith("Racer")
