"""/api/site: public facts about the site; the registration mode (administrators)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema

from inviteonly.api.auth import authenticated_member, session_bearer
from inviteonly.api.schemas import ERRORS
from inviteonly.lib.web import client_ip
from inviteonly.site_config.actions import do_set_registration_mode
from inviteonly.site_config.models import RegistrationMode, get_site_configuration

router = Router()


class SiteOut(Schema):
    site_name: str
    registration_mode: RegistrationMode
    # The zone members who chose none read times in (SITE_TIME_ZONE), an IANA name.
    time_zone: str

    @staticmethod
    def of(mode: str) -> SiteOut:
        return SiteOut(
            site_name=settings.SITE_NAME, registration_mode=RegistrationMode(mode),
            time_zone=settings.SITE_TIME_ZONE,
        )


class RegistrationModeIn(Schema):
    mode: RegistrationMode


@router.get("", response=SiteOut, summary="Site name and registration mode")
def get_site(request: HttpRequest) -> SiteOut:
    return SiteOut.of(get_site_configuration().registration_mode)


@router.put(
    "/registration-mode",
    auth=session_bearer,
    response={200: SiteOut, **ERRORS},
    summary="Switch the registration mode (administrators)",
)
def set_registration_mode(request: HttpRequest, payload: RegistrationModeIn) -> SiteOut:
    configuration = do_set_registration_mode(
        actor=authenticated_member(request), mode=payload.mode, ip_address=client_ip(request)
    )
    return SiteOut.of(configuration.registration_mode)
