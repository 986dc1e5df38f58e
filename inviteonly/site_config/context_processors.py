"""Site-wide values every template may use."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    return {
        "site_name": settings.SITE_NAME,
        "code_digits": settings.VERIFICATION_CODE_DIGITS,
        "code_ttl_minutes": int(settings.VERIFICATION_CODE_TTL.total_seconds() // 60),
    }
