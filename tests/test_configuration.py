"""The environment an operator sets: values read through settings.py's helpers (a bad
one stops the command with one line naming the variable), keys generated into
keys.json only where the environment lacks them (and `inviteonly check` names them),
region lists, Redis, and the documented production setup passing `check --deploy`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import Error, Warning
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from inviteonly import checks
from inviteonly import settings as site_settings
from tests.conftest import REDIS_URL
from tests.kannel_fixture import REPO_ROOT, free_port

OPERATIONS = REPO_ROOT / "docs" / "operations.md"
KEY_NAMES = (
    "INVITEONLY_SECRET_KEY",
    "INVITEONLY_PHONE_ENCRYPTION_KEYS",
    "INVITEONLY_PHONE_INDEX_KEY",
    "INVITEONLY_TOKEN_KEY",
)


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


# ---------------------------------------------------------------------------
# The helpers that read the environment
# ---------------------------------------------------------------------------


def test_whole_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "INVITEONLY_INVITATION_TTL_DAYS"
    monkeypatch.delenv(name, raising=False)
    assert site_settings._env_int(name, 7) == 7
    monkeypatch.setenv(name, " 14 ")
    assert site_settings._env_int(name, 7) == 14
    monkeypatch.setenv(name, "")
    assert site_settings._env_int(name, 7) == 7
    for bad in ("7d", "1.5", "seven"):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ImproperlyConfigured, match=rf"{name} must be a whole number.*{bad}"):
            site_settings._env_int(name, 7)
    monkeypatch.setenv(name, "-1")
    with pytest.raises(ImproperlyConfigured, match=rf"{name} must be at least 1"):
        site_settings._env_int(name, 7, minimum=1)


def test_optional_whole_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "INVITEONLY_NEW_MEMBERS_PER_DAY"
    monkeypatch.delenv(name, raising=False)
    assert site_settings._env_int_or_none(name) is None
    monkeypatch.setenv(name, "50")
    assert site_settings._env_int_or_none(name) == 50
    monkeypatch.setenv(name, "many")
    with pytest.raises(ImproperlyConfigured, match=name):
        site_settings._env_int_or_none(name)


def test_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "INVITEONLY_SMS_GATEWAY_TIMEOUT"
    monkeypatch.setenv(name, "2.5")
    assert site_settings._env_float(name, 10) == 2.5
    monkeypatch.setenv(name, "10s")
    with pytest.raises(ImproperlyConfigured, match=rf"{name} must be a number.*10s"):
        site_settings._env_float(name, 10)
    monkeypatch.setenv(name, "0")
    with pytest.raises(ImproperlyConfigured, match=rf"{name} must be more than 0"):
        site_settings._env_float(name, 10, above=0)


def test_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "INVITEONLY_PUBLIC_TREE_PAGE"
    for text, value in (("1", True), ("Yes", True), ("on", True), ("0", False),
                        ("off", False), ("FALSE", False), ("", False)):
        monkeypatch.setenv(name, text)
        assert site_settings._env_bool(name, False) is value
    monkeypatch.setenv(name, "enabled")
    with pytest.raises(ImproperlyConfigured, match=rf"{name} must be one of 1, true"):
        site_settings._env_bool(name, False)


def test_log_level_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "INVITEONLY_LOG_LEVEL"
    monkeypatch.setenv(name, "debug")
    assert site_settings._env_choice(name, "INFO", choices=site_settings.LOG_LEVELS) == "DEBUG"
    monkeypatch.setenv(name, "verbose")
    with pytest.raises(ImproperlyConfigured, match=rf"{name} must be one of DEBUG, INFO"):
        site_settings._env_choice(name, "INFO", choices=site_settings.LOG_LEVELS)


def test_prepare_threshold_takes_a_number_or_off(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "INVITEONLY_DB_PREPARE_THRESHOLD"
    monkeypatch.delenv(name, raising=False)
    assert site_settings._env_int_or_off(name, 5) == 5
    for off in ("off", "OFF", " Off "):
        monkeypatch.setenv(name, off)
        assert site_settings._env_int_or_off(name, 5) is None
    monkeypatch.setenv(name, "never")
    with pytest.raises(ImproperlyConfigured, match=rf"{name} must be a whole number or 'off'"):
        site_settings._env_int_or_off(name, 5)


def test_sms_routes_must_be_a_json_object(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "INVITEONLY_SMS_ROUTES"
    monkeypatch.delenv(name, raising=False)
    assert site_settings._env_json_object(name) == {}
    monkeypatch.setenv(name, '{"US": {"gateway": "twilio"}}')
    assert site_settings._env_json_object(name) == {"US": {"gateway": "twilio"}}
    monkeypatch.setenv(name, '{"US": {"gateway": "twilio"}')
    with pytest.raises(ImproperlyConfigured, match=rf"{name} is not valid JSON"):
        site_settings._env_json_object(name)
    monkeypatch.setenv(name, '["US", "twilio"]')
    with pytest.raises(ImproperlyConfigured, match=rf"{name} must be a JSON object"):
        site_settings._env_json_object(name)


def test_region_lists_are_upper_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVITEONLY_PHONE_DENIED_REGIONS", " ru, by ,,Kz")
    assert site_settings._env_regions("INVITEONLY_PHONE_DENIED_REGIONS") == ["RU", "BY", "KZ"]


def run_cli(
    *arguments: str, environment: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inviteonly.cli", *arguments],
        env=environment, cwd=cwd, capture_output=True, text=True, timeout=120,
    )


def clean_environment(tmp_path: Path, **values: str) -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items()
        if not name.startswith(("INVITEONLY_", "DJANGO_")) and name not in ("DATABASE_URL",
                                                                            "REDIS_URL")
    }
    return environment | {
        "INVITEONLY_DATA_DIR": str(tmp_path / "var"),
        # This checkout's package, whichever one the environment has installed.
        "PYTHONPATH": str(REPO_ROOT),
        **values,
    }


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("INVITEONLY_SMS_ROUTES", '{"US": ', "is not valid JSON"),
        ("INVITEONLY_SMS_ROUTES", '["US"]', "must be a JSON object"),
        ("INVITEONLY_INVITATION_TTL_DAYS", "7d", "must be a whole number"),
        ("INVITEONLY_DEBUG", "maybe", "must be one of"),
        ("INVITEONLY_TIME_ZONE", "Moscow", "must be an IANA time zone name"),
        ("INVITEONLY_TIME_ZONE", "Europe/../../etc/passwd", "must be an IANA time zone name"),
        # Values Python would take, but that overflow a time or name no database.
        ("INVITEONLY_INVITATION_TTL_DAYS", "1000000000", "at most 36,500"),
        ("INVITEONLY_SESSION_DAYS", "99999999999", "at most 36,500"),
        ("INVITEONLY_SMS_SEND_LEASE_SECONDS", "inf", "must be a finite number"),
        ("DATABASE_URL", "postgress://inviteonly@127.0.0.1:5432/inviteonly", "postgress"),
        ("INVITEONLY_DATA_DIR", "/proc/inviteonly-data", "cannot keep the generated keys"),
        # redis-py reads no such URL: every rate-limited request would answer 500.
        ("REDIS_URL", "127.0.0.1:6379", "must be a URL starting with redis://"),
        ("REDIS_URL", "redis:/:secret@127.0.0.1:6379/0", "must be a URL starting with redis://"),
    ],
)
def test_a_bad_value_stops_the_command_with_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    result = run_cli("check", environment=clean_environment(tmp_path, **{variable: value}),
                     cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert variable in result.stderr and expected in result.stderr
    assert result.stderr.startswith("inviteonly: ")
    assert "secret" not in result.stderr  # a password in the value is not repeated


def test_the_site_time_zone_is_an_iana_name(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "INVITEONLY_TIME_ZONE"
    monkeypatch.delenv(name, raising=False)
    assert site_settings._env_time_zone(name, "UTC") == "UTC"
    monkeypatch.setenv(name, " Europe/Moscow ")
    assert site_settings._env_time_zone(name, "UTC") == "Europe/Moscow"
    for bad in ("MSK+3", "Europe/Atlantis", "/etc/localtime"):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ImproperlyConfigured, match=rf"{name} must be an IANA time zone"):
            site_settings._env_time_zone(name, "UTC")


def test_the_server_keeps_utc_whatever_the_site_time_zone(tmp_path: Path) -> None:
    """Stored times, logs and the commands' lines stay in UTC; the setting is what
    members who chose no zone read times in."""
    assert settings_under(
        tmp_path, "TIME_ZONE", "USE_TZ", "SITE_TIME_ZONE", INVITEONLY_TIME_ZONE="Europe/Moscow"
    ) == {"TIME_ZONE": "UTC", "USE_TZ": True, "SITE_TIME_ZONE": "Europe/Moscow"}


def test_an_empty_site_name_is_the_default(tmp_path: Path) -> None:
    """As for every variable: set but empty is unset."""
    assert settings_under(tmp_path, "SITE_NAME", INVITEONLY_SITE_NAME=" ") == {
        "SITE_NAME": "inviteonly"
    }


def test_lower_case_log_level_and_off_are_accepted(tmp_path: Path) -> None:
    environment = clean_environment(
        tmp_path,
        INVITEONLY_LOG_LEVEL="debug",
        INVITEONLY_DB_PREPARE_THRESHOLD="OFF",
        DATABASE_URL="postgres://nobody@127.0.0.1:9/nothing",
    )
    result = run_cli("check", environment=environment, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------
# Keys: only what the environment lacks comes from (or goes into) keys.json
# ---------------------------------------------------------------------------


def test_keys_json_gets_only_the_missing_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in KEY_NAMES[:3]:
        monkeypatch.setenv(name, os.environ[name])
    monkeypatch.delenv("INVITEONLY_TOKEN_KEY")
    keys_file = tmp_path / "var" / "keys.json"
    keys, from_file = site_settings._load_keys(keys_file)
    assert from_file == ["INVITEONLY_TOKEN_KEY"]
    stored = json.loads(keys_file.read_text())
    assert list(stored) == ["INVITEONLY_TOKEN_KEY"]
    assert keys["INVITEONLY_TOKEN_KEY"] == stored["INVITEONLY_TOKEN_KEY"]
    assert keys["INVITEONLY_SECRET_KEY"] == os.environ["INVITEONLY_SECRET_KEY"]
    assert keys_file.stat().st_mode & 0o777 == 0o600
    # Read again, not generated again.
    assert site_settings._load_keys(keys_file) == (keys, ["INVITEONLY_TOKEN_KEY"])


def test_generated_keys_are_long_enough_for_django_and_well_formed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in KEY_NAMES:
        monkeypatch.delenv(name)
    keys, from_file = site_settings._load_keys(tmp_path / "keys.json")
    assert from_file == list(KEY_NAMES)
    assert len(keys["INVITEONLY_SECRET_KEY"]) >= 50  # Django's security.W009
    with pytest.MonkeyPatch.context() as patched:
        from django.conf import settings

        for name, value in keys.items():
            patched.setattr(settings, name.removeprefix("INVITEONLY_"), value)
        assert checks.check_keys(None) == []


def test_keys_from_keys_json_beside_keys_from_the_environment_are_named(
    settings: Any,
) -> None:
    settings.KEYS_FROM_FILE = ["INVITEONLY_TOKEN_KEY"]
    [warning] = checks.check_keys_from_file(None)
    assert isinstance(warning, Warning) and warning.id == "inviteonly.W001"
    assert "INVITEONLY_TOKEN_KEY" in warning.msg and str(settings.KEYS_FILE) in warning.msg
    # All four from the file: a laptop, nothing to warn about at start…
    settings.KEYS_FROM_FILE = list(KEY_NAMES)
    assert checks.check_keys_from_file(None) == []
    # …but not fit to go live.
    [error] = checks.check_keys_from_file_deploy(None)
    assert isinstance(error, Error) and error.id == "inviteonly.E003"
    assert all(name in error.msg for name in KEY_NAMES)
    with pytest.raises(SystemCheckError, match=r"inviteonly\.E003"):
        call_command("check", "--deploy")
    settings.KEYS_FROM_FILE = []
    assert checks.check_keys_from_file(None) == checks.check_keys_from_file_deploy(None) == []


# ---------------------------------------------------------------------------
# Regions, Redis
# ---------------------------------------------------------------------------


def test_unknown_region_codes_are_refused(settings: Any) -> None:
    settings.PHONE_ALLOWED_REGIONS = ["RU", "USA"]
    settings.PHONE_DENIED_REGIONS = ["XX"]
    settings.PHONE_DEFAULT_REGION = "RU"
    errors = checks.check_regions(None)
    assert ids(errors) == ["inviteonly.E004", "inviteonly.E004"]
    assert "INVITEONLY_PHONE_ALLOWED_REGIONS" in errors[0].msg and "'USA'" in errors[0].msg
    assert "INVITEONLY_PHONE_DENIED_REGIONS" in errors[1].msg and "'XX'" in errors[1].msg
    settings.PHONE_ALLOWED_REGIONS = ["RU", "BY"]
    settings.PHONE_DENIED_REGIONS = []
    settings.PHONE_DEFAULT_REGION = "Russia"
    assert ids(checks.check_regions(None)) == ["inviteonly.E004"]
    settings.PHONE_DEFAULT_REGION = "RU"
    assert checks.check_regions(None) == []
    # "001", numbers of no country, may be listed, but is no default region.
    settings.PHONE_DENIED_REGIONS = ["001"]
    assert checks.check_regions(None) == []
    settings.PHONE_DEFAULT_REGION = "001"
    assert ids(checks.check_regions(None)) == ["inviteonly.E004"]
    settings.PHONE_DEFAULT_REGION = "RU"
    # A route for a country that does not exist would never be taken.
    settings.SMS_ROUTES = {"XX": {"gateway": "memory"}, "US": {"gateway": "memory"}}
    errors = checks.check_regions(None)
    assert ids(errors) == ["inviteonly.E004"]
    assert "INVITEONLY_SMS_ROUTES" in errors[0].msg and "'XX'" in errors[0].msg


def test_a_redis_that_does_not_answer_is_reported_at_start(settings: Any) -> None:
    settings.REDIS_URL = f"redis://:secret@127.0.0.1:{free_port()}/0"
    [warning] = checks.check_redis(None)
    assert warning.id == "inviteonly.W002"
    assert "127.0.0.1" in warning.msg and "secret" not in warning.msg
    # Passwords that URL parsing misreads (a "/" or "#" in them) show nowhere either.
    for password in ("12/34secret", "sec#ret"):
        settings.REDIS_URL = f"redis://:{password}@127.0.0.1:{free_port()}/0"
        [warning] = checks.check_redis(None)
        assert warning.id == "inviteonly.W002"
        assert "secret" not in warning.msg and "sec" not in warning.msg, warning.msg
    settings.REDIS_URL = ""
    assert checks.check_redis(None) == []


def test_a_redis_that_answers_passes(settings: Any, redis_store: Any) -> None:
    settings.REDIS_URL = REDIS_URL
    assert checks.check_redis(None) == []


def test_a_redis_older_than_7_stops_the_start(
    settings: Any, redis_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cooldown's counter needs EXPIRE NX (Redis 7.0): without it every code request
    fails."""
    import redis

    settings.REDIS_URL = REDIS_URL
    monkeypatch.setattr(redis.Redis, "info", lambda _self, _section: {"redis_version": "6.2.14"})
    [error] = checks.check_redis(None)
    assert isinstance(error, Error) and error.id == "inviteonly.E005" and "6.2.14" in error.msg


# ---------------------------------------------------------------------------
# docs/operations.md, followed to the letter
# ---------------------------------------------------------------------------


def documented_keys() -> dict[str, str]:
    """Keys made by the first shell block of docs/operations.md's "Keys" section, which
    prints them as an environment file."""
    keys_section = OPERATIONS.read_text().split("\n## Keys\n", 1)[1].split("\n## ", 1)[0]
    script = keys_section.split("```sh\n", 1)[1].split("```", 1)[0]
    printed = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in printed.stdout.splitlines())


def test_the_documented_production_setup_passes_check_deploy(tmp_path: Path) -> None:
    keys = documented_keys()
    assert set(keys) == set(KEY_NAMES)
    environment = clean_environment(
        tmp_path,
        **keys,
        INVITEONLY_MEDIA_ROOT=str(tmp_path / "media"),
        INVITEONLY_BASE_URL="https://example.org",
        INVITEONLY_ALLOWED_HOSTS="example.org",
        INVITEONLY_TRUSTED_PROXY_COUNT="1",
        INVITEONLY_SMS_GATEWAY="kannel",
        INVITEONLY_KANNEL_SENDSMS_URL="http://127.0.0.1:13013/cgi-bin/sendsms",
        INVITEONLY_KANNEL_USERNAME="inviteonly",
        INVITEONLY_KANNEL_PASSWORD="sendsms-password",
        INVITEONLY_SMS_SENDER_ID="Inviteonly",
        INVITEONLY_SMS_ROUTES='{"US": {"sender_id": "+14155550100"}, '
                              '"CA": {"sender_id": "+14155550100"}}',
    )
    result = run_cli("check", "--deploy", environment=environment, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stderr
    assert not (tmp_path / "var" / "keys.json").exists()


# ---------------------------------------------------------------------------
# What the environment turns into
# ---------------------------------------------------------------------------


def settings_under(tmp_path: Path, *names: str, **values: str) -> dict[str, Any]:
    """``names`` of inviteonly/settings.py as a fresh process reads them from
    ``values``."""
    script = (
        "import json, inviteonly.settings as s; "
        f"print(json.dumps({{name: getattr(s, name) for name in {list(names)!r}}}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=clean_environment(tmp_path, **values),
        cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60,
    )
    return dict(json.loads(result.stdout))


def test_https_behind_a_proxy_turns_on_the_redirect_and_hsts(tmp_path: Path) -> None:
    names = ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE")
    https = {"INVITEONLY_BASE_URL": "https://example.org"}
    assert settings_under(tmp_path, *names, **https, INVITEONLY_TRUSTED_PROXY_COUNT="1") == {
        "SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": 31_536_000,
        "SESSION_COOKIE_SECURE": True,
    }
    # Without a proxy to say so, every request looks like plain http: no redirect.
    assert settings_under(tmp_path, *names, **https)["SECURE_SSL_REDIRECT"] is False
    assert settings_under(tmp_path, *names, **https, INVITEONLY_TRUSTED_PROXY_COUNT="1",
                          INVITEONLY_SSL_REDIRECT="0", INVITEONLY_HSTS_SECONDS="0") == {
        "SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0, "SESSION_COOKIE_SECURE": True,
    }
    assert settings_under(tmp_path, *names) == {
        "SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0, "SESSION_COOKIE_SECURE": False,
    }


def test_the_redirect_to_https_leaves_delivery_reports_alone(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    assert client.get("/login/").status_code == 301
    # A gateway posting a report to an internal http address is not sent elsewhere.
    assert client.get("/sms/kannel/1/not-a-token/").status_code != 301


def test_sessions_passwords_and_worker_batches_are_set_from_the_environment(
    tmp_path: Path,
) -> None:
    read = settings_under(
        tmp_path, "SESSION_COOKIE_AGE", "PASSWORD_MIN_LENGTH", "AUTH_PASSWORD_VALIDATORS",
        "SMS_WORKER_BATCH_SIZE",
        INVITEONLY_SESSION_DAYS="2", INVITEONLY_PASSWORD_MIN_LENGTH="12",
        INVITEONLY_SMS_WORKER_BATCH_SIZE="5",
    )
    assert read["SESSION_COOKIE_AGE"] == 2 * 24 * 3600
    assert read["AUTH_PASSWORD_VALIDATORS"][0]["OPTIONS"] == {"min_length": 12}
    assert read["SMS_WORKER_BATCH_SIZE"] == 5
    assert settings_under(tmp_path, "SESSION_COOKIE_AGE", "PASSWORD_MIN_LENGTH") == {
        "SESSION_COOKIE_AGE": 14 * 24 * 3600, "PASSWORD_MIN_LENGTH": 8,
    }
