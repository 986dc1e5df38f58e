"""The admin's banner while the SMS circuit breaker holds (abuse/sms_budget.py)."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from inviteonly.abuse.sms_budget import breaker_tripped_until

register = template.Library()


@register.inclusion_tag("admin/sms_breaker_banner.html")
def sms_breaker_banner() -> dict[str, Any]:
    return {"until": breaker_tripped_until(), "limit": settings.SMS_MAX_PER_HOUR}
