"""Start-up checks refuse a missing or invalid SMS configuration, and routes that
would send from an alphanumeric sender id where carriers drop it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from inviteonly.sms.checks import check_sms_gateways, check_sms_routes, check_sms_timeouts
from inviteonly.sms.gateways import route_for


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


def test_unknown_gateway_is_refused(settings: Any) -> None:
    settings.SMS_GATEWAY = "carrier-pigeon"
    assert ids(check_sms_gateways(None)) == ["sms.E001"]
    with pytest.raises(SystemCheckError, match="carrier-pigeon"):
        call_command("check")


def test_kannel_needs_its_url_and_sendsms_user(settings: Any) -> None:
    settings.SMS_GATEWAY = "kannel"
    settings.KANNEL_SENDSMS_URL = ""
    settings.KANNEL_USERNAME = ""
    settings.KANNEL_PASSWORD = ""
    messages = check_sms_gateways(None)
    assert ids(messages) == ["sms.E002", "sms.E002"]
    assert "KANNEL_SENDSMS_URL" in messages[0].msg
    settings.KANNEL_SENDSMS_URL = "http://127.0.0.1:13013/cgi-bin/sendsms"
    settings.KANNEL_USERNAME = "inviteonly"
    settings.KANNEL_PASSWORD = "secret"
    assert check_sms_gateways(None) == []


def test_a_route_to_a_misconfigured_gateway_is_refused(settings: Any) -> None:
    settings.SMS_ROUTES = {"GB": {"gateway": "kannel"}}
    settings.KANNEL_SENDSMS_URL = ""
    assert "sms.E002" in ids(check_sms_gateways(None))


def test_malformed_routes_are_refused(settings: Any) -> None:
    for routes in ({"usa": {"gateway": "memory"}}, {"US": {"sender": "+14155550100"}},
                   {"US": "memory"}):
        settings.SMS_ROUTES = routes
        assert ids(check_sms_routes(None)) == ["sms.E003"]


def test_alphanumeric_sender_is_refused_for_the_us_and_canada(settings: Any) -> None:
    settings.SMS_SENDER_ID = "Inviteonly"
    settings.SMS_ROUTES = {}
    messages = check_sms_routes(None)
    assert ids(messages) == ["sms.E005", "sms.E005"]
    assert "US" in messages[0].msg and "CA" in messages[1].msg
    settings.SMS_ROUTES = {
        "US": {"sender_id": "+14155550100"},
        "CA": {"gateway": "memory", "sender_id": "+14155550100"},
    }
    assert check_sms_routes(None) == []
    assert route_for("US").sender_id == "+14155550100"
    assert route_for("RU").sender_id == "Inviteonly"
    assert route_for("CA").gateway == "memory"


def test_sender_ids_carriers_cannot_carry_are_refused(settings: Any) -> None:
    settings.SMS_ROUTES = {}
    for sender in ("Invite-only!", "A much too long name"):
        settings.SMS_SENDER_ID = sender
        assert "sms.E004" in ids(check_sms_routes(None))


def test_smpp_and_twilio_need_their_credentials(settings: Any) -> None:
    settings.SMS_ROUTES = {"US": {"gateway": "twilio", "sender_id": "+14155550100"},
                           "GB": {"gateway": "smpp"}}
    settings.TWILIO_ACCOUNT_SID = "not-a-sid"
    settings.TWILIO_AUTH_TOKEN = ""
    settings.SMPP_ADDRESS = "smsc.example.org"
    settings.SMPP_SYSTEM_ID = "inviteonly"
    settings.SMPP_PASSWORD = "longer-than-eight"
    problems = " ".join(message.msg for message in check_sms_gateways(None))
    for expected in ("ACCOUNT_SID", "AUTH_TOKEN", "host:port", "password of 8"):
        assert expected in problems


def test_twilio_needs_a_sender_number(settings: Any) -> None:
    settings.SMS_SENDER_ID = ""
    settings.SMS_ROUTES = {"US": {"gateway": "twilio"}}
    assert ids(check_sms_routes(None)) == ["sms.E006"]
    settings.SMS_ROUTES = {"US": {"gateway": "twilio", "sender_id": "+14155550100"}}
    assert check_sms_routes(None) == []


def test_a_gateway_timeout_near_half_the_lease_is_reported(settings: Any) -> None:
    settings.SMS_SEND_LEASE = timedelta(seconds=120)
    settings.SMS_GATEWAY_TIMEOUT = 30
    assert check_sms_timeouts(None) == []
    settings.SMS_GATEWAY_TIMEOUT = 31
    [warning] = check_sms_timeouts(None)
    assert warning.id == "sms.W002"
    assert "INVITEONLY_SMS_GATEWAY_TIMEOUT" in warning.msg and "SMS_SEND_LEASE" in warning.msg
    settings.SMS_SEND_LEASE = timedelta(seconds=5)
    settings.SMS_GATEWAY_TIMEOUT = 10
    assert ids(check_sms_timeouts(None)) == ["sms.W002"]


def test_us_and_canada_under_kannels_own_sender_are_reported(settings: Any) -> None:
    # Without a sender id the site sends none: Kannel's global-sender (a name, in the
    # documented kannel.conf) goes out, and no check can see it.
    settings.SMS_GATEWAY = "kannel"
    settings.SMS_SENDER_ID = ""
    settings.SMS_ROUTES = {}
    settings.PHONE_ALLOWED_REGIONS = []
    settings.PHONE_DENIED_REGIONS = []
    messages = check_sms_routes(None)
    assert ids(messages) == ["sms.W003", "sms.W003"]
    assert "US" in messages[0].msg and "global-sender" in messages[0].msg
    # A number for those two countries, or a sender the check can see, settles it.
    settings.SMS_ROUTES = {"US": {"sender_id": "+14155550100"},
                           "CA": {"sender_id": "+14155550100"}}
    assert check_sms_routes(None) == []
    settings.SMS_ROUTES = {}
    settings.SMS_SENDER_ID = "Inviteonly"
    assert ids(check_sms_routes(None)) == ["sms.E005", "sms.E005"]
    # So does not serving them at all.
    settings.SMS_SENDER_ID = ""
    settings.PHONE_ALLOWED_REGIONS = ["RU", "BY"]
    assert check_sms_routes(None) == []
    settings.SMS_SENDER_ID = "Inviteonly"
    assert check_sms_routes(None) == []
    settings.SMS_SENDER_ID = ""
    settings.PHONE_ALLOWED_REGIONS = []
    settings.PHONE_DENIED_REGIONS = ["US", "CA"]
    assert check_sms_routes(None) == []


def test_smpp_without_a_sender_id_needs_a_site_name_carriers_carry(settings: Any) -> None:
    # Without a sender id the SMPP gateway sends the site's name (its first 11
    # characters): a Cyrillic name cannot even be put in a submit_sm (Latin-1), so every
    # SMS would fail after its last attempt, with `inviteonly check` silent.
    settings.SMS_GATEWAY = "smpp"
    settings.SMS_SENDER_ID = ""
    settings.SMS_ROUTES = {}
    settings.PHONE_ALLOWED_REGIONS = ["RU"]
    settings.SITE_NAME = "Приглашения"
    [error] = check_sms_routes(None)
    assert error.id == "sms.E004"
    assert "INVITEONLY_SITE_NAME" in error.msg and "'Приглашения'" in error.msg
    assert "INVITEONLY_SMS_SENDER_ID" in (error.hint or "")
    # Only routes through SMPP send the site's name.
    settings.SMS_ROUTES = {"RU": {"gateway": "kannel"}}
    settings.SMS_GATEWAY = "memory"
    assert check_sms_routes(None) == []
    settings.SMS_ROUTES = {"RU": {"gateway": "smpp"}}
    assert ids(check_sms_routes(None)) == ["sms.E004"]
    settings.SMS_ROUTES = {"RU": {"gateway": "smpp", "sender_id": "Invites"}}
    assert check_sms_routes(None) == []
    settings.SMS_ROUTES = {"RU": {"gateway": "smpp"}}
    settings.SITE_NAME = "Invites club of Moscow"  # cut to "Invites clu"
    assert check_sms_routes(None) == []
