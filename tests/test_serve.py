"""The README's first command: `inviteonly serve` on the embedded default (SQLite,
console SMS, delivery worker inside) — a newcomer becomes the founder by following
the printed link and reading the code off the terminal."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError

import pytest

from tests.conftest import PASSWORD
from tests.kannel_fixture import free_port

STARTUP_SECONDS = 60


class Server:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = STARTUP_SECONDS) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.output.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.output)}")

    def api(self, path: str, body: dict[str, str]) -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(  # noqa: S310  (loopback only)
            f"{self.base}/api{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except HTTPError as error:
            return error.code, json.loads(error.read())


BODY_MAX_BYTES = 200_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    environment = {
        name: value for name, value in os.environ.items()
        if not name.startswith(("INVITEONLY_", "DJANGO_")) and name != "DATABASE_URL"
    }
    environment |= {
        "INVITEONLY_DATA_DIR": str(tmp_path / "var"),
        "INVITEONLY_SMS_WORKER_POLL_SECONDS": "0.2",
        "INVITEONLY_REQUEST_BODY_MAX_BYTES": str(BODY_MAX_BYTES),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "inviteonly.cli", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        yield Server(process, port)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_prints_a_founder_link_and_the_founder_can_join(server: Server) -> None:
    # With no INVITEONLY_BASE_URL, links point where the server listens.
    token = server.wait_for(rf"{server.base}/j/([A-Za-z0-9_-]{{16,}})").group(1)
    server.wait_for(r"Serving on")
    with urllib.request.urlopen(f"{server.base}/", timeout=30) as home:  # noqa: S310
        assert home.status == 200
    status, preview = server.api("/join/invitation", {"token": token})
    assert status == 200 and preview["inviter_name"] is None

    status, started = server.api("/join", {
        "token": token, "phone": "+7 916 123-45-67", "display_name": "First Founder",
        "password": PASSWORD, "language": "en",
    })
    assert status == 202, started
    # The console gateway prints the SMS, number masked, text whole.
    server.wait_for(r"SMS to \+7 916 \*\*\*-\*\*-67")
    code = server.wait_for(r"^(\d{6}) is your").group(1)
    status, joined = server.api(
        "/join/confirm", {"verification_token": str(started["verification_token"]), "code": code}
    )
    assert status == 201, joined
    member = joined["member"]
    assert isinstance(member, dict) and member["role"] == "founder"
    assert server.process.poll() is None


def test_serve_refuses_a_body_over_the_limit_before_reading_it(server: Server) -> None:
    server.wait_for(r"Serving on")
    upload = urllib.request.Request(  # noqa: S310  (loopback only)
        f"{server.base}/api/profile/avatar",
        data=b"x" * (BODY_MAX_BYTES + 1),
        headers={"Content-Type": "application/octet-stream"},
    )
    with pytest.raises(HTTPError) as refused:
        urllib.request.urlopen(upload, timeout=30)  # noqa: S310
    assert refused.value.code == 413
    status, _answer = server.api("/join/invitation", {"token": "x" * 40})
    assert status == 404  # and the server goes on answering
