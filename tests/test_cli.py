"""The `inviteonly` management commands: founder, registration_mode, worker pieces."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inviteonly.audit_log.models import AuditAction, AuditEntry
from inviteonly.invitations.models import Invitation
from inviteonly.invitations.queries import access_invitation_by_token
from inviteonly.site_config.models import get_site_configuration

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
