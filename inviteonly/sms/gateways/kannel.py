"""Kannel: HTTP ``sendsms`` on smsbox, delivery reports back through ``dlr-url``.

Each worker thread keeps one HTTP/1.1 connection to smsbox open. A GSM-7 text is sent
as UTF-8 (``coding=0``, Kannel converts), anything else as UTF-16BE with ``coding=2``
(UCS-2); smsbox splits long texts when the sendsms-user has ``concatenation = true``.
``dlr-mask=27`` asks for every report but "buffered": 8 (the SMSC took it) lets a
message a dead worker left in doubt be settled without sending it twice (see
sms/delivery.py); 1, 2 and 16 say whether it reached the phone.

Kannel's answers: 202 accepted (or queued); 400 a number or a text it refuses (the
black/white lists, an empty number) — permanent; anything else (403 wrong sendsms
password, 503 queue full, no answer at all) may pass later — retryable.
"""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlencode, urlsplit

from django.conf import settings

from inviteonly.lib.sms_text import SmsEncoding, shape_of
from inviteonly.sms.delivery_reports import delivery_report_url
from inviteonly.sms.gateways import GatewayError, SmsReceipt

# Delivered (1), not delivered (2), SMSC took it (8), SMSC refused it (16); not
# "buffered at the SMSC" (4), which changes nothing here and costs Kannel a callback.
DLR_MASK = 1 | 2 | 8 | 16


def sendsms_query(
    *, to: str, text: str, reference: str, sender_id: str, username: str, password: str,
    smsc_id: str = "",
) -> str:
    """The query string of one sendsms request."""
    is_gsm7 = shape_of(text).encoding == SmsEncoding.GSM7
    fields = {
        "username": username,
        "password": password,
        "to": to,
        # Bytes, so urlencode percent-encodes them as they are.
        "text": text.encode("utf-8" if is_gsm7 else "utf-16-be"),
        "charset": "UTF-8" if is_gsm7 else "UTF-16BE",
        "coding": "0" if is_gsm7 else "2",
        "dlr-mask": str(DLR_MASK),
        # Kannel replaces %d with the report type.
        "dlr-url": delivery_report_url(int(reference), gateway="kannel") + "?type=%d",
    }
    if sender_id:
        fields["from"] = sender_id
    if smsc_id:
        fields["smsc"] = smsc_id
    return urlencode(fields)


class KannelGateway:
    name = "kannel"

    def __init__(self, sendsms_url: str | None = None) -> None:
        url = urlsplit(sendsms_url or settings.KANNEL_SENDSMS_URL)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("KANNEL_SENDSMS_URL must be an http(s) URL")
        self._scheme = url.scheme
        self._host = url.hostname
        self._port = url.port
        self._path = url.path or "/cgi-bin/sendsms"
        self._local = threading.local()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection, and whether its socket is open from an earlier
        request (kept alive): after an answer with ``Connection: close`` the next
        request opens a fresh one."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            kind = (
                http.client.HTTPSConnection if self._scheme == "https"
                else http.client.HTTPConnection
            )
            connection = kind(self._host, self._port, timeout=settings.SMS_GATEWAY_TIMEOUT)
            self._local.connection = connection
        return connection, connection.sock is not None

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _get(self, path: str) -> tuple[int, str]:
        # A kept-alive connection smsbox has closed fails on first use: one more try
        # on a fresh connection (smsbox has not seen that request). A fresh connection
        # that fails so may have delivered the request (smsbox, or a proxy, took it and
        # then closed): no second try, which could send the SMS twice.
        while True:
            connection, reused = self._connection()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                answer = response.status, response.read(500).decode("utf-8", "replace")
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop_connection()
                if not reused:
                    raise
                continue
            except (OSError, http.client.HTTPException):
                self._drop_connection()
                raise
            return answer

    def send(self, *, to: str, text: str, reference: str, sender_id: str = "") -> SmsReceipt:
        query = sendsms_query(
            to=to, text=text, reference=reference, sender_id=sender_id,
            username=settings.KANNEL_USERNAME, password=settings.KANNEL_PASSWORD,
            smsc_id=settings.KANNEL_SMSC_ID,
        )
        try:
            status, body = self._get(f"{self._path}?{query}")
        except (OSError, http.client.HTTPException) as error:
            raise GatewayError(f"kannel unreachable: {type(error).__name__}",
                               retryable=True) from error
        if status == 202:
            # sendsms answers with no id of its own: reports come to our per-message URL.
            return SmsReceipt(gateway_message_id=f"kannel-{reference}")
        # Kannel's answers name the problem, never the number or the text.
        reason = f"kannel answered {status}: {body.strip()[:120]}"
        raise GatewayError(reason, retryable=status != 400)
