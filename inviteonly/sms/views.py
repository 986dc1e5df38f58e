"""Delivery-report endpoints the gateways call: parse, authenticate, record, answer.

Machine callbacks, not pages: no session, no CSRF token (the gateway has none), and
the answer is a bare status. Each is authenticated per message and gateway — Kannel
by the HMAC token in its URL and by the caller's address (Kannel signs nothing, and
the report type is in the query string), Twilio also by its request signature — and
takes reports only on messages that went through it (403, as for a wrong token,
otherwise). Refused reports are logged without their tokens.
Recording is idempotent, so a gateway that retries a report changes nothing. Kannel
calls its ``dlr-url`` with GET; that GET changes state is Kannel's convention, not ours.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from inviteonly.lib.web import client_ip
from inviteonly.sms.delivery_reports import (
    ReportOutcome,
    delivery_report_is_authentic,
    delivery_report_url,
    kannel_may_report,
    log_refused_report,
    record_delivery_report,
)

# Kannel's report types (dlr-mask bits); 4 (buffered at the SMSC) changes nothing.
KANNEL_REPORT_OUTCOMES = {
    "1": ReportOutcome.DELIVERED,
    "2": ReportOutcome.FAILED,
    "8": ReportOutcome.SENT,
    "16": ReportOutcome.FAILED,
}

# Twilio's message statuses; queued/sending/accepted change nothing.
TWILIO_REPORT_OUTCOMES = {
    "sent": ReportOutcome.SENT,
    "delivered": ReportOutcome.DELIVERED,
    "undelivered": ReportOutcome.FAILED,
    "failed": ReportOutcome.FAILED,
}


@csrf_exempt
@require_http_methods(["GET", "POST"])
def kannel_delivery_report(request: HttpRequest, message_id: int, token: str) -> HttpResponse:
    address = client_ip(request)
    refusal = (
        "not from KANNEL_DELIVERY_REPORT_SOURCES" if not kannel_may_report(address)
        else "wrong token" if not delivery_report_is_authentic(message_id, token, gateway="kannel")
        else None
    )
    if refusal is not None:
        log_refused_report(gateway="kannel", message_id=message_id, reason=refusal,
                           address=address)
        return HttpResponse(status=403)
    report_type = request.GET.get("type", "")
    outcome = KANNEL_REPORT_OUTCOMES.get(report_type)
    if outcome is not None:
        record_delivery_report(
            outcome=outcome, message_id=message_id, gateway="kannel",
            detail=f"kannel delivery report {report_type}",
        )
    return HttpResponse(status=204)


@csrf_exempt
@require_http_methods(["POST"])
def twilio_status_callback(request: HttpRequest, message_id: int, token: str) -> HttpResponse:
    from twilio.request_validator import RequestValidator

    if not delivery_report_is_authentic(message_id, token, gateway="twilio"):
        log_refused_report(gateway="twilio", message_id=message_id, reason="wrong token",
                           address=client_ip(request))
        return HttpResponse(status=403)
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
    signature = request.headers.get("X-Twilio-Signature", "")
    # Twilio signs the URL it was given, which a proxy in front of us may not pass on
    # (with the token it came with: one from before tokens named their gateway, too).
    url = delivery_report_url(message_id, gateway="twilio", token=token)
    if not validator.validate(url, request.POST.dict(), signature):
        log_refused_report(gateway="twilio", message_id=message_id, reason="wrong signature",
                           address=client_ip(request))
        return HttpResponse(status=403)
    status = request.POST.get("MessageStatus", "")
    outcome = TWILIO_REPORT_OUTCOMES.get(status)
    if outcome is not None:
        error_code = request.POST.get("ErrorCode", "")
        record_delivery_report(
            outcome=outcome, message_id=message_id, gateway="twilio",
            detail=f"twilio {status}" + (f" (error {error_code})" if error_code else ""),
        )
    return HttpResponse(status=204)
