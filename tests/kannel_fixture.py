"""A real Kannel on loopback for tests and the delivery benchmark: bearerbox, smsbox and
Kannel's fake SMSC (``fakesmsc`` from kannel-extras), configured in a temporary
directory, on free ports, started and stopped by the caller.

What reached the "operator network" is read from fakesmsc's output, one line per
message: ``Got message N: <sender receiver type data>``.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes

REPO_ROOT = Path(__file__).resolve().parent.parent
BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC_CANDIDATES = ("/usr/lib/kannel/test/fakesmsc", "/usr/libexec/kannel/test/fakesmsc")
MISSING = "Kannel is not installed: apt-get install kannel kannel-extras"

USERNAME = "inviteonly"
PASSWORD = "sendsms-password"
GLOBAL_SENDER = "inviteonly"
# Numbers this Kannel refuses (its sendsms-user black list).
REFUSED_PREFIX = "+1201555"
# What Kannel's access log keeps of each message: no text, no number (docs/operations.md).
ACCESS_LOG_FORMAT = (
    "%t %l [SMSC:%i] [SVC:%n] [ACT:%A] [BINF:%B] [FID:%F] "
    "[flags:%m:%c:%M:%C:%d] [msg:%L] [udh:%u]"
)


def fakesmsc_path() -> str | None:
    for candidate in FAKESMSC_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return None


def kannel_available() -> bool:
    return all(Path(tool).exists() for tool in (BEARERBOX, SMSBOX)) and bool(fakesmsc_path())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class ReceivedSms:
    sender: str
    receiver: str
    text: str
    coding: str


def _parse_fakesmsc_line(line: str) -> ReceivedSms | None:
    start, end = line.find("Got message "), line.rfind(">")
    if start < 0 or end < 0:
        return None
    body = line[line.index("<", start) + 1 : end]
    sender, receiver, coding, data = ([*body.split(" ", 3), ""])[:4]
    if coding == "ucs-2":  # URL-encoded UTF-16BE bytes, a space byte written as "+"
        return ReceivedSms(
            sender=sender, receiver=receiver, coding=coding,
            text=unquote_to_bytes(data.replace("+", "%20")).decode("utf-16-be"),
        )
    text = data
    return ReceivedSms(sender=sender, receiver=receiver, text=text, coding=coding)


class Kannel:
    """bearerbox + smsbox + fakesmsc. ``start``/``stop`` may be called again: messages
    Kannel accepted survive in its store file across a restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.admin_port = free_port()
        self.smsbox_port = free_port()
        self.smsc_port = free_port()
        self.sendsms_port = free_port()
        self.config = directory / "kannel.conf"
        self.fakesmsc_output = directory / "fakesmsc.out"
        self._processes: list[subprocess.Popen[bytes]] = []
        self._write_config()

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def _write_config(self) -> None:
        log = self.directory
        self.config.write_text(
            f"""group = core
admin-port = {self.admin_port}
admin-interface = 127.0.0.1
admin-password = admin-password
smsbox-port = {self.smsbox_port}
smsbox-interface = 127.0.0.1
log-file = {log}/bearerbox.log
log-level = 2
access-log = {log}/access.log
access-log-format = "{ACCESS_LOG_FORMAT}"
store-type = file
store-location = {log}/kannel.store
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = {self.smsc_port}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.smsbox_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
global-sender = {GLOBAL_SENDER}
# No access-log here: smsbox writes every sendsms text into it, whatever the format.
log-file = {log}/smsbox.log
log-level = 2



group = sendsms-user
username = {USERNAME}
password = {PASSWORD}
concatenation = true
max-messages = 10
black-list-regex = ^\\{REFUSED_PREFIX}
"""
        )

    def _spawn(self, command: list[str], output: Path) -> subprocess.Popen[bytes]:
        with output.open("ab") as sink:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=sink, stderr=subprocess.STDOUT,
                cwd=self.directory, start_new_session=True,
            )
        self._processes.append(process)
        return process

    def start(self, timeout: float = 30) -> None:
        fakesmsc = fakesmsc_path()
        assert fakesmsc, MISSING
        self._spawn([BEARERBOX, "-v", "2", str(self.config)], self.directory / "bearerbox.out")
        self._wait_for(lambda: self._status() is not None, timeout, "bearerbox")
        # fakesmsc without messages to send stays in "interactive mode" on its stdin.
        self._spawn(
            [fakesmsc, "-H", "127.0.0.1", "-r", str(self.smsc_port), "-i", "0", "-m", "0"],
            self.fakesmsc_output,
        )
        self._spawn([SMSBOX, "-v", "2", str(self.config)], self.directory / "smsbox.out")
        self._wait_for(self._ready, timeout, "smsbox and the fake SMSC")

    def _status(self) -> str | None:
        url = f"http://127.0.0.1:{self.admin_port}/status.txt?password=admin-password"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            return None

    def _ready(self) -> bool:
        status = self._status() or ""
        boxes = status.split("Box connections:", 1)[-1]
        if "smsbox:" not in boxes or "FAKE:" not in status or "(online" not in status:
            return False
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.sendsms_port)) == 0

    def _wait_for(self, condition: object, timeout: float, what: str) -> None:
        assert callable(condition)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{what} did not come up; see {self.directory}")

    def stop(self) -> None:
        # smsbox first, then bearerbox (it writes its store), then the fake SMSC.
        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()

    def received(self) -> list[ReceivedSms]:
        if not self.fakesmsc_output.exists():
            return []
        lines = self.fakesmsc_output.read_text(errors="replace").splitlines()
        return [sms for line in lines if (sms := _parse_fakesmsc_line(line))]

    def wait_for_received(
        self, count: int, *, to: str | None = None, timeout: float = 30
    ) -> list[ReceivedSms]:
        """What reached the fake SMSC (for ``to`` only, if given), once there are at
        least ``count`` messages or ``timeout`` seconds have passed. Its output lags
        behind the delivery reports."""
        deadline = time.monotonic() + timeout
        while True:
            received = [sms for sms in self.received() if to is None or sms.receiver == to]
            if len(received) >= count or time.monotonic() > deadline:
                return received
            time.sleep(0.1)

    def logs(self) -> str:
        """Kannel's own log files (not the fake SMSC's output)."""
        logs = [*self.directory.glob("*.log"), *self.directory.glob("*box.out")]
        return "\n".join(path.read_text(errors="replace") for path in sorted(logs))

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class SiteInThread:
    """The site (its WSGI application under waitress) on a free loopback port, in a
    thread of this process: where Kannel's delivery reports arrive."""

    def __init__(self) -> None:
        from waitress.server import create_server

        from inviteonly.wsgi import application

        # Kannel's reports come in bursts; waitress warns of every queued request.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self.port = free_port()
        # Kannel opens a connection per delivery report: more than waitress allows by default.
        self._server = create_server(
            application, host="127.0.0.1", port=self.port, threads=4, connection_limit=1000
        )
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._server.run()
        except OSError:
            if not self._closing:  # its sockets closed under it: only when closing
                raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        # Ends the request threads first (they signal the server when done), and with
        # them their database connections (a test database with open connections
        # cannot be dropped); then the server.
        self._closing = True
        self._server.task_dispatcher.shutdown(cancel_pending=False)
        self._server.close()
        self._thread.join(timeout=5)
        gc.collect()


# ---------------------------------------------------------------------------
# Delivery workers as separate processes (`inviteonly worker`)
# ---------------------------------------------------------------------------


def database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL for the database a Django connection uses (the test database)."""
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{settings_dict['NAME']}"


def worker_environment(
    *, kannel: Kannel, site_url: str, database: str, lease_seconds: float = 5
) -> dict[str, str]:
    """The environment of an `inviteonly worker` sending through ``kannel`` on
    ``database``, with a short lease so a killed worker's messages come back soon."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("INVITEONLY_")
    }
    environment.update(
        {
            "DATABASE_URL": database,
            "PYTHONPATH": str(REPO_ROOT),
            "INVITEONLY_SMS_GATEWAY": "kannel",
            "INVITEONLY_KANNEL_SENDSMS_URL": kannel.sendsms_url,
            "INVITEONLY_KANNEL_USERNAME": USERNAME,
            "INVITEONLY_KANNEL_PASSWORD": PASSWORD,
            "INVITEONLY_SMS_DELIVERY_REPORT_BASE_URL": site_url,
            "INVITEONLY_SMS_SEND_LEASE_SECONDS": str(lease_seconds),
            "INVITEONLY_SMS_WORKER_POLL_SECONDS": "0.05",
        }
    )
    # The same keys as the process that queued the messages, so workers can read them.
    for name in ("INVITEONLY_DATA_DIR", "INVITEONLY_SECRET_KEY", "INVITEONLY_TOKEN_KEY",
                 "INVITEONLY_PHONE_ENCRYPTION_KEYS", "INVITEONLY_PHONE_INDEX_KEY",
                 "INVITEONLY_BASE_URL"):
        if name in os.environ:
            environment[name] = os.environ[name]
    return environment


def start_worker(
    environment: dict[str, str], *, settings_module: str, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "django", "worker", f"--settings={settings_module}"],
            env=environment, cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
