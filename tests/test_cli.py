"""The `inviteonly` management commands: founder, registration_mode, worker pieces."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from inviteonly.abuse.limiter import DatabaseStore, KeyKind, Rule, Subject, hit_rules
from inviteonly.abuse.models import RateLimitCounter
from inviteonly.accounts.actions import do_start_recovery
from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.queries import access_invitation_by_token
from inviteonly.lib import crypto
from inviteonly.phone_verification.models import PhoneVerification
from inviteonly.site_config.models import get_site_configuration
from tests.conftest import FrozenClock, make_member

pytestmark = pytest.mark.django_db


def test_founder_prints_a_working_link_once() -> None:
    output = StringIO()
    call_command("founder", stdout=output)
    token = re.search(r"/j/([A-Za-z0-9_-]+)", output.getvalue())
    assert token is not None
    invitation = access_invitation_by_token(token.group(1))
    assert invitation.grants_role == "founder"
    assert token.group(1) not in Invitation.objects.get().token_digest


def test_founder_bound_to_a_number_refuses_a_landline() -> None:
    with pytest.raises(CommandError, match="landline"):
        call_command("founder", "--phone", "+7 301 123-45-67", stdout=StringIO())
    assert Invitation.objects.count() == 0


def test_registration_mode_command_switches_and_audits() -> None:
    output = StringIO()
    call_command("registration_mode", "closed", stdout=output)
    assert output.getvalue().strip() == "closed"
    assert get_site_configuration().registration_mode == "closed"
    assert AuditEntry.objects.filter(action=AuditAction.REGISTRATION_MODE_CHANGED).count() == 1


def test_rotate_phone_keys_moves_every_value_to_the_current_key() -> None:
    old_ring = "old:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    with override_settings(PHONE_ENCRYPTION_KEYS=old_ring):
        member = make_member(phone="+79161234567")
    assert crypto.key_id_of(bytes(member.phone_ciphertext)) == "old"
    new_ring = f"new:ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ0=,{old_ring}"
    with override_settings(PHONE_ENCRYPTION_KEYS=new_ring):
        output = StringIO()
        call_command("rotate_phone_keys", stdout=output)
        assert "Re-encrypted 1 values under key 'new'" in output.getvalue()
        member.refresh_from_db()
        blob = bytes(member.phone_ciphertext)
        assert crypto.key_id_of(blob) == "new"
        assert crypto.decrypt(blob, purpose=crypto.Purpose.PHONE_NUMBER) == "+79161234567"
        call_command("rotate_phone_keys", stdout=output)
        assert "Re-encrypted 0 values" in output.getvalue()


def test_sweep_deletes_only_what_has_outlived_its_use(clock: FrozenClock) -> None:
    do_start_recovery(phone="+79165550001")
    hit_rules([Rule("probe", KeyKind.IP, 5, 60)], Subject(ip="192.0.2.1"), store=DatabaseStore())
    clock.advance(hours=23)
    do_start_recovery(phone="+79165550002")
    output = StringIO()
    call_command("sweep", stdout=output)
    assert output.getvalue().strip() == (
        "Deleted 1 rate-limit counters, 0 expired sessions, 0 phone verifications and 0 "
        "invitation requests; failed 0 abandoned SMS."
    )
    clock.advance(hours=2)
    call_command("sweep", stdout=output)
    assert ", 1 phone verifications and" in output.getvalue()
    assert PhoneVerification.objects.count() == 1
    assert RateLimitCounter.objects.count() == 0
