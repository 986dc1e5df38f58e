"""`inviteonly sweep`: delete what has outlived its use (expired sessions and
idempotency keys among it, and SMS gateway outages long past or of gateways no
longer configured), give back the allowance of expired invitations and revoke those
granted on requests whose SMS failed for good, let go
of the numbers of members who left past LEFT_NUMBER_HOLD_DAYS (the delivery worker
also runs this once an hour)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from inviteonly.abuse.limiter import sweep_expired_counters
from inviteonly.abuse.login_throttle import sweep_forgotten_login_failures
from inviteonly.accounts.actions import release_left_numbers
from inviteonly.accounts.sessions import sweep_expired_sessions
from inviteonly.invitation_requests.actions import (
    settle_undelivered_invitations,
    sweep_old_requests,
)
from inviteonly.invitations.allowance import sweep_expired_refunds
from inviteonly.lib import clock
from inviteonly.phone_verification.actions import sweep_old_verifications
from inviteonly.sms.delivery import sweep_abandoned_messages, sweep_gateway_outages
from inviteonly.sms.delivery_reports import sweep_undecided_parts
from inviteonly.social.idempotency import sweep_expired_idempotency_keys


class Command(BaseCommand):
    help = (
        "Delete ended rate-limit windows, forgotten login failures, expired sessions, old "
        "phone verifications, long-ended invitation requests and idempotency keys past "
        "their window; fail abandoned SMS; revoke (and give back) the invitations granted "
        "on requests whose SMS failed; forget SMS gateway outages long past or of "
        "gateways no longer configured, and SMPP parts whose receipts never came; give "
        "back the allowance of expired invitations; "
        "release the numbers of members who left past LEFT_NUMBER_HOLD_DAYS."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        counters = sweep_expired_counters()
        login_failures = sweep_forgotten_login_failures()
        sessions = sweep_expired_sessions()
        verifications = sweep_old_verifications()
        requests = sweep_old_requests()
        idempotency_keys = sweep_expired_idempotency_keys()
        abandoned = sweep_abandoned_messages()
        # After it: an abandoned invitation SMS is settled with any a dead worker left.
        undelivered = settle_undelivered_invitations()
        outages = sweep_gateway_outages()
        parts = sweep_undecided_parts()
        refunded = sweep_expired_refunds(now=clock.now())
        released = release_left_numbers(now=clock.now())
        self.stdout.write(
            f"Deleted {counters} rate-limit counters, {login_failures} numbers' login "
            f"failures, {sessions} expired sessions, "
            f"{verifications} phone verifications, {requests} invitation requests and "
            f"{idempotency_keys} idempotency keys; failed {abandoned} abandoned SMS; "
            f"forgot {outages} SMS gateway outages and {parts} SMS parts whose receipts "
            f"never came."
        )
        if refunded:
            self.stdout.write(f"Gave back the allowance of {refunded} expired invitations.")
        if undelivered:
            self.stdout.write(
                f"Revoked {undelivered} invitations granted on requests whose SMS failed."
            )
        if released:
            self.stdout.write(f"Released the numbers of {released} members who left.")
