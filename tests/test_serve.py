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
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlsplit

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


def serve_environment(tmp_path: Path, **values: str) -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items()
        if not name.startswith(("INVITEONLY_", "DJANGO_")) and name != "DATABASE_URL"
    }
    return environment | {
        "INVITEONLY_DATA_DIR": str(tmp_path / "var"),
        "INVITEONLY_SMS_WORKER_POLL_SECONDS": "0.2",
        "INVITEONLY_REQUEST_BODY_MAX_BYTES": str(BODY_MAX_BYTES),
        "PYTHONUNBUFFERED": "1",
        **values,
    }


@contextmanager
def running_server(tmp_path: Path, **values: str) -> Iterator[Server]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "inviteonly.cli", "serve", "--port", str(port)],
        env=serve_environment(tmp_path, **values),
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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path) as started:
        yield started


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


def test_serve_says_where_its_data_lives(tmp_path: Path, server: Server) -> None:
    line = server.wait_for(r"Data directory: ").string
    assert f"Data directory: {tmp_path / 'var'} (media: {tmp_path / 'var' / 'media'})" in line


def test_serve_without_migrating_an_empty_database_says_what_to_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "inviteonly.cli", "serve", "--no-migrate", "--port",
         str(free_port())],
        env=serve_environment(tmp_path), cwd=tmp_path, capture_output=True, text=True,
        timeout=STARTUP_SECONDS,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "inviteonly migrate" in result.stderr


class FakeSendsms(BaseHTTPRequestHandler):
    """Kannel's smsbox as far as the site can tell: takes every sendsms, keeps its query."""

    queries: queue.Queue[dict[str, list[str]]] = queue.Queue()

    def do_GET(self) -> None:
        self.queries.put(parse_qs(urlsplit(self.path).query))
        self.send_response(202)
        self.send_header("Content-Length", "8")
        self.end_headers()
        self.wfile.write(b"Accepted")

    def log_message(self, *args: object) -> None:
        pass


def test_delivery_reports_come_back_to_where_serve_listens(tmp_path: Path) -> None:
    sendsms = HTTPServer(("127.0.0.1", 0), FakeSendsms)
    threading.Thread(target=sendsms.serve_forever, daemon=True).start()
    kannel = {
        "INVITEONLY_SMS_GATEWAY": "kannel",
        "INVITEONLY_KANNEL_SENDSMS_URL":
            f"http://127.0.0.1:{sendsms.server_address[1]}/cgi-bin/sendsms",
        "INVITEONLY_KANNEL_USERNAME": "inviteonly",
        "INVITEONLY_KANNEL_PASSWORD": "sendsms-password",
    }
    try:
        with running_server(tmp_path, **kannel) as server:
            token = server.wait_for(rf"{server.base}/j/([A-Za-z0-9_-]{{16,}})").group(1)
            server.wait_for(r"Serving on")
            status, started = server.api("/join", {
                "token": token, "phone": "+7 916 123-45-67", "display_name": "First Founder",
                "password": PASSWORD, "language": "en",
            })
            assert status == 202, started
            query = FakeSendsms.queries.get(timeout=30)
    finally:
        sendsms.shutdown()
    [report_url] = query["dlr-url"]
    assert report_url.startswith(f"{server.base}/sms/kannel/"), report_url
