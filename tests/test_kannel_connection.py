"""The Kannel gateway's HTTP connection to smsbox against a peer that hangs up: a
kept-alive connection smsbox closed is retried once on a fresh one (smsbox never saw
that request); a fresh connection is not (the request may have gone through)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from inviteonly.sms.gateways import GatewayError
from inviteonly.sms.gateways.kannel import KannelGateway

ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 10\r\n\r\n0: Accepted"
ACCEPTED_AND_CLOSED = (
    b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 10\r\n\r\n0: Accepted"
)


class Smsbox:
    """Takes connections on loopback; ``answer(connection number, request number)``
    says whether to answer a request (202, kept alive unless ``keep_alive`` is off) or
    hang up without an answer."""

    def __init__(self, answer: Callable[[int, int], bool], *, keep_alive: bool = True) -> None:
        self.answer = answer
        self.keep_alive = keep_alive
        self.requests: list[tuple[int, bytes]] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        connections = 0
        while True:
            try:
                peer, _ = self.server.accept()
            except OSError:
                return
            connections += 1
            threading.Thread(target=self._serve, args=(peer, connections), daemon=True).start()

    def _serve(self, peer: socket.socket, connection: int) -> None:
        with peer:
            for request in range(1, 100):
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = peer.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.requests.append((connection, data.split(b"\r\n", 1)[0]))
                if not self.answer(connection, request):
                    return
                peer.sendall(ACCEPTED if self.keep_alive else ACCEPTED_AND_CLOSED)
                if not self.keep_alive:
                    return


@pytest.fixture
def gateway(settings: Any) -> Iterator[Callable[[Smsbox], KannelGateway]]:
    settings.KANNEL_USERNAME, settings.KANNEL_PASSWORD = "inviteonly", "secret"
    boxes: list[Smsbox] = []

    def connect(smsbox: Smsbox) -> KannelGateway:
        boxes.append(smsbox)
        return KannelGateway(f"http://127.0.0.1:{smsbox.port}/cgi-bin/sendsms")

    yield connect
    for smsbox in boxes:
        smsbox.server.close()


def send(gateway: KannelGateway, reference: str) -> None:
    gateway.send(to="+447911123456", text="Your code: 482913", reference=reference)


def test_a_fresh_connection_that_hangs_up_is_not_sent_again(gateway: Any) -> None:
    smsbox = Smsbox(answer=lambda connection, request: connection > 1)
    with pytest.raises(GatewayError) as refused:
        send(gateway(smsbox), "7")
    assert refused.value.retryable  # later, by the worker, once a report had its chance
    assert [connection for connection, _ in smsbox.requests] == [1]


def test_after_connection_close_the_next_request_is_on_a_fresh_connection(
    gateway: Any,
) -> None:
    """smsbox (or a proxy) answered "Connection: close": the next request opens a fresh
    connection, which is not retried when it hangs up."""
    smsbox = Smsbox(answer=lambda connection, request: connection == 1, keep_alive=False)
    kannel = gateway(smsbox)
    send(kannel, "7")
    with pytest.raises(GatewayError):
        send(kannel, "8")
    assert [connection for connection, _ in smsbox.requests] == [1, 2]


def test_a_kept_alive_connection_smsbox_closed_is_retried_once_on_a_fresh_one(
    gateway: Any,
) -> None:
    # The first connection answers one request, then smsbox drops it (an idle timeout).
    smsbox = Smsbox(answer=lambda connection, request: request == 1)
    kannel = gateway(smsbox)
    send(kannel, "7")
    send(kannel, "8")
    assert [connection for connection, _ in smsbox.requests] == [1, 1, 2]
    first, lost, retried = (line for _, line in smsbox.requests)
    assert retried == lost != first  # the same sendsms again, for the second message
