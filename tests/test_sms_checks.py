"""Start-up checks refuse a missing or invalid SMS configuration, and routes that
would send from an alphanumeric sender id where carriers drop it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from inviteonly.sms.checks import check_sms_gateways, check_sms_routes
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
