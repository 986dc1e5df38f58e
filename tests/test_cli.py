"""The `inviteonly` management commands: founder, registration_mode, worker pieces, and
the Django commands that need a word from us (createsuperuser, collectstatic)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from inviteonly import cli
from inviteonly.abuse.limiter import DatabaseStore, KeyKind, Rule, Subject, hit_rules
from inviteonly.abuse.models import RateLimitCounter
from inviteonly.accounts.actions import do_start_recovery
from inviteonly.accounts.models import Member
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


def test_founder_with_an_empty_number_makes_no_link_for_anyone() -> None:
    """`inviteonly founder --phone "$FOUNDER_PHONE"` with the variable unset."""
    with pytest.raises(CommandError, match="--phone is empty"):
        call_command("founder", "--phone", " ", stdout=StringIO())
    assert Invitation.objects.count() == 0


@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        # waitress would listen on 99999 - 65536 while the links printed say :99999.
        (["serve", "--port", "99999", "--no-worker"], "--port must be 1–65535, not 99999"),
        (["serve", "--port", "0", "--no-worker"], "--port must be 1–65535"),
        # It would accept connections and answer none.
        (["serve", "--threads", "0", "--no-worker"], "--threads must be at least 1, not 0"),
        (["sms_report", "--days", "-5"], "--days must be 1–36,500, not -5"),
        (["sms_report", "--days", "1000000000"], "--days must be 1–36,500"),
    ],
)
def test_a_command_refuses_numbers_it_cannot_use(
    arguments: list[str], refusal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inviteonly.management.commands import serve

    started: list[object] = []
    monkeypatch.setattr(serve, "serve", lambda *args, **kwargs: started.append(kwargs))
    with pytest.raises(CommandError, match=re.escape(refusal)):
        call_command(*arguments, stdout=StringIO())
    assert started == []


@pytest.mark.parametrize("base_url", [None, "", " "])
def test_serve_links_point_where_it_listens_unless_a_base_url_is_set(
    base_url: str | None, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """An empty INVITEONLY_BASE_URL is an unset one, as settings.py reads it."""
    from inviteonly.management.commands import serve

    monkeypatch.setattr(serve, "serve", lambda *args, **kwargs: None)
    monkeypatch.setattr(serve, "freeze_startup_objects", lambda: None)
    # serve sets these on django.conf.settings: through the fixture first, so that the
    # test's end puts them back.
    settings.BASE_URL = settings.SMS_DELIVERY_REPORT_BASE_URL = "http://testserver"
    settings.ALLOWED_HOSTS = ["testserver"]
    for name in ("INVITEONLY_BASE_URL", "INVITEONLY_SMS_DELIVERY_REPORT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
        if base_url is not None:
            monkeypatch.setenv(name, base_url)
    call_command("serve", "--port", "9123", "--no-worker", "--no-migrate", stdout=StringIO())
    assert settings.BASE_URL == "http://127.0.0.1:9123"
    assert settings.SMS_DELIVERY_REPORT_BASE_URL == "http://127.0.0.1:9123"


def test_rotating_with_a_key_no_longer_in_the_ring_names_it() -> None:
    with override_settings(PHONE_ENCRYPTION_KEYS=f"gone:{'A' * 43}="):
        make_member(phone="+79161230000")
    with (
        override_settings(PHONE_ENCRYPTION_KEYS=f"new:{'Z' * 42}0="),
        pytest.raises(CommandError, match=r"'gone'.*Put the key back"),
    ):
        call_command("rotate_phone_keys", stdout=StringIO())


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
        "Deleted 1 rate-limit counters, 0 numbers' login failures, 0 expired sessions, 0 "
        "phone verifications, 0 invitation requests and 0 idempotency keys; failed 0 "
        "abandoned SMS; forgot 0 SMS gateway outages and 0 SMS parts whose receipts never "
        "came."
    )
    clock.advance(hours=2)
    call_command("sweep", stdout=output)
    assert ", 1 phone verifications," in output.getvalue()
    assert PhoneVerification.objects.count() == 1
    assert RateLimitCounter.objects.count() == 0


def test_createsuperuser_points_to_the_founder_command() -> None:
    with pytest.raises(CommandError, match="inviteonly founder"):
        call_command("createsuperuser", "--noinput", stdout=StringIO(), stderr=StringIO())
    assert not Member.objects.exists()


def test_collectstatic_without_a_static_root_says_which_variable_to_set(settings: Any) -> None:
    settings.STATIC_ROOT = None
    with pytest.raises(CommandError, match="INVITEONLY_STATIC_ROOT"):
        call_command("collectstatic", "--noinput", stdout=StringIO())


def test_the_cli_turns_a_command_error_into_one_line(tmp_path: Path) -> None:
    environment = {
        name: value for name, value in os.environ.items()
        if not name.startswith(("INVITEONLY_", "DJANGO_")) and name != "DATABASE_URL"
    } | {"INVITEONLY_DATA_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "-m", "inviteonly.cli", "collectstatic", "--noinput"],
        env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "INVITEONLY_STATIC_ROOT" in result.stderr


def test_worker_says_where_its_data_lives(tmp_path: Path) -> None:
    environment = {
        name: value for name, value in os.environ.items()
        if not name.startswith(("INVITEONLY_", "DJANGO_")) and name != "DATABASE_URL"
    } | {"INVITEONLY_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "inviteonly.cli", "worker"],
        env=environment, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in worker.stdout or ():
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    try:
        while not seen or "Data directory" not in seen[-1]:
            seen.append(lines.get(timeout=60))
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    line = seen[-1]
    assert f"Data directory: {tmp_path / 'data'}" in line
    assert f"media: {tmp_path / 'data' / 'media'}" in line


def test_every_command_of_ours_is_named_where_a_newcomer_looks() -> None:
    commands_dir = Path(cli.__file__).parent / "management" / "commands"
    # Overrides of Django's own commands are Django's, not ours to list.
    ours = sorted(
        path.stem for path in commands_dir.glob("*.py")
        if path.stem not in ("__init__", "createsuperuser", "collectstatic")
    )
    assert "sweep" in ours and "sms_report" in ours
    architecture = (Path(cli.__file__).parent.parent / "docs" / "architecture.md").read_text()
    [command_row] = [line for line in architecture.splitlines()
                     if line.startswith("| `cli.py`")]
    for command in ours:
        assert f"inviteonly {command}" in (cli.__doc__ or ""), command
        assert f"`{command}`" in command_row, command


@pytest.mark.parametrize(
    ("gateway", "arguments", "said"),
    [
        ("console", [], "the confirmation code will be printed here as an SMS"),
        ("console", ["--no-worker"], "printed by `inviteonly worker` as an SMS"),
        # Not printed anywhere: the founder's phone gets it.
        ("kannel", ["--no-worker"], "the confirmation code goes to the phone by SMS (kannel)"),
        ("kannel", [], "the confirmation code goes to the phone by SMS (kannel)"),
    ],
)
def test_serve_says_where_the_founders_code_will_be(
    gateway: str, arguments: list[str], said: str, monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    from inviteonly.management.commands import serve

    monkeypatch.setattr(serve, "serve", lambda *args, **kwargs: None)
    monkeypatch.setattr(serve, "freeze_startup_objects", lambda: None)
    monkeypatch.setattr(serve, "run_delivery_worker", lambda stop: None)
    monkeypatch.setattr(serve, "listen_where_served", lambda host, port: None)
    settings.SMS_GATEWAY = gateway
    settings.KANNEL_SENDSMS_URL = "http://127.0.0.1:13013/cgi-bin/sendsms"
    settings.KANNEL_USERNAME, settings.KANNEL_PASSWORD = "inviteonly", "sendsms-password"
    settings.SMS_SENDER_ID, settings.PHONE_ALLOWED_REGIONS = "Inviteonly", ["RU"]
    output = StringIO()
    call_command("serve", "--no-migrate", *arguments, stdout=output)
    assert "Open this link to become the founder" in output.getvalue()
    assert said in output.getvalue()
    if gateway != "console":
        assert "printed" not in output.getvalue()
