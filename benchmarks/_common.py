"""Helpers shared by the benchmarks.

* A throwaway environment: ``benchmark_environment`` points the real settings module
  (``inviteonly.settings``) at a fresh SQLite file in a temporary directory, or at a
  freshly created PostgreSQL database that is dropped afterwards, with random keys and
  the memory SMS gateway. Nothing is written into the repository.
* Child processes: Django can be configured once per process, so a benchmark measures
  each database in a child process of itself (``run_child``) and reads the last line
  of the child's standard output as JSON.
* The request stack: ``JsonApi`` hands JSON requests to Django's WSGI handler, as a
  WSGI server does (middleware, sessions, JSON parsing, the request signals, all
  in-process, without a socket); ``request_finished`` closes the database connections
  older than ``DATABASE_CONNECTION_MAX_AGE``, as in production.
* ``WorkerPool``: long-lived threads (each keeps its own client and database
  connection) that start a phase together and take work from a shared counter.
* Counting what a piece of code does: password hashes (``count_password_hashes``), the
  time spent hashing (``timing_password_hashes``) and SQL queries (``count_queries``).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import http.client
import io
import ipaddress
import itertools
import json
import os
import platform
import pstats
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL_VARIABLE = "INVITEONLY_BENCH_POSTGRES_URL"
# Environment variables a child keeps; every other INVITEONLY_* setting is dropped so a
# developer's shell (a proxy count, a region allow-list, DEBUG) cannot skew the numbers.
_KEPT_VARIABLES = ("INVITEONLY_LOG_LEVEL", POSTGRES_URL_VARIABLE)

State = TypeVar("State")
Result = TypeVar("Result")


def _random_key() -> str:
    return urlsafe_b64encode(secrets.token_bytes(32)).decode()


# ---------------------------------------------------------------------------
# A throwaway environment
# ---------------------------------------------------------------------------


@contextmanager
def throwaway_postgres_database(
    url: str, *, name_prefix: str = "inviteonly_bench"
) -> Iterator[str]:
    """Create an empty database next to the one ``url`` names; yield its URL; drop it."""
    import psycopg
    from psycopg import sql

    name = f"{name_prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def benchmark_environment(
    database: str, postgres_url: str | None = None, *, name_prefix: str = "inviteonly_bench"
) -> Iterator[None]:
    """Set the environment ``inviteonly.settings`` reads, before Django is set up.
    A throwaway PostgreSQL database is named ``name_prefix`` plus random hex."""
    if database not in ("sqlite", "postgres"):
        raise ValueError(f"unknown database {database!r}")
    if database == "postgres" and not postgres_url:
        raise ValueError("measuring PostgreSQL needs a PostgreSQL URL")
    data_dir = tempfile.mkdtemp(prefix="inviteonly-bench-")
    for name in list(os.environ):
        if name.startswith("INVITEONLY_") and name not in _KEPT_VARIABLES:
            del os.environ[name]
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "inviteonly.settings",
            "INVITEONLY_DATA_DIR": data_dir,
            "INVITEONLY_SMS_GATEWAY": "memory",
            "INVITEONLY_BASE_URL": "http://testserver",
            "INVITEONLY_ALLOWED_HOSTS": "testserver",
            "INVITEONLY_SECRET_KEY": _random_key(),
            "INVITEONLY_PHONE_ENCRYPTION_KEYS": f"b1:{_random_key()}",
            "INVITEONLY_PHONE_INDEX_KEY": _random_key(),
            "INVITEONLY_TOKEN_KEY": _random_key(),
            # The SMS circuit breaker is taken on every SMS, as in production, but set
            # far above what a benchmark sends, so it never trips mid-measurement.
            "INVITEONLY_SMS_MAX_PER_HOUR": str(10**9),
        }
    )
    try:
        if database == "postgres":
            assert postgres_url is not None
            with throwaway_postgres_database(postgres_url, name_prefix=name_prefix) as url:
                os.environ["DATABASE_URL"] = url
                yield
        else:
            yield
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def set_up_django() -> None:
    """``django.setup()`` and every migration, on the throwaway database; then what
    the server does once it has started (``inviteonly serve``, ``inviteonly.wsgi``)."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)

    from inviteonly.lib.heap import freeze_startup_objects

    freeze_startup_objects()


def database_description() -> str:
    from django.db import connection

    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version} (file, WAL)"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        row = cursor.fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"


def interpreter_description() -> str:
    """Which Python runs the benchmark, by its installation: figures of two builds are
    not comparable without it (a registration took as long on this machine's pyenv
    3.11.7 as on Debian's 3.11.2, though small pure-Python loops ran up to twice as
    fast on Debian's)."""
    return (
        f"{platform.python_implementation()} {platform.python_version()} "
        f"({sys.base_prefix})"
    )


# ---------------------------------------------------------------------------
# Child processes
# ---------------------------------------------------------------------------


def run_child(
    module: str, arguments: Sequence[str], *, echo: Callable[[str], None]
) -> dict[str, Any]:
    """Run ``python -m module arguments`` from the repository root, echo its output
    lines as they come, and return its last line parsed as JSON."""
    command = [sys.executable, "-m", module, *arguments]
    last = ""
    with subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, bufsize=1
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            line = line.rstrip("\n")
            if not line:
                continue
            if last:
                echo(last)
            last = line
    if child.returncode != 0:
        if last:
            echo(last)
        raise RuntimeError(f"{' '.join(command)} exited with status {child.returncode}")
    try:
        parsed = json.loads(last)
    except ValueError as error:
        raise RuntimeError(f"the last line of {module} is not JSON: {last!r}") from error
    if not isinstance(parsed, dict):
        raise RuntimeError(f"the last line of {module} is not a JSON object: {last!r}")
    return parsed


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """``--postgres`` for a benchmark that measures SQLite and, given a URL, PostgreSQL
    in a child process each (``--child --database``, internal: see ``run_per_database``)."""
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get(POSTGRES_URL_VARIABLE) or None,
        help="also measure PostgreSQL on a throwaway database created through this URL "
        f"(default: ${POSTGRES_URL_VARIABLE})",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--database", choices=("sqlite", "postgres"), default="sqlite", help=argparse.SUPPRESS
    )


def run_per_database(
    module: str,
    postgres_url: str | None,
    child_arguments: Sequence[str],
    *,
    headline: Sequence[str],
    defaults: Mapping[str, Any],
) -> int:
    """Run ``module``'s child on SQLite and, given ``postgres_url``, on PostgreSQL, and
    print one JSON line: SQLite's result at the top level (with ``defaults`` for keys it
    lacks), PostgreSQL's under ``postgresql`` and its ``headline`` keys again as
    ``postgres_<key>``, failures under ``errors``. Returns the exit status."""
    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for database in ["sqlite"] + (["postgres"] if postgres_url else []):
        arguments = ["--child", "--database", database, *child_arguments]
        if database == "postgres" and postgres_url:
            arguments += ["--postgres", postgres_url]
        try:
            results[database] = run_child(module, arguments, echo=say)
        except RuntimeError as error:
            errors[database] = str(error)
            say(f"[{database}] FAILED: {error}")
    combined: dict[str, Any] = dict(results.get("sqlite", {"database": "sqlite"}))
    for key, value in defaults.items():
        combined.setdefault(key, value)
    if "postgres" in results:
        postgres = results["postgres"]
        combined["postgresql"] = postgres
        for key in headline:
            combined[f"postgres_{key}"] = postgres[key]
    if errors:
        combined["errors"] = errors
    print(json.dumps(combined, ensure_ascii=False), flush=True)
    return 1 if errors else 0


# ---------------------------------------------------------------------------
# The request stack
# ---------------------------------------------------------------------------


class ApiRefused(AssertionError):
    def __init__(self, path: str, status: int, expected: int, body: Any) -> None:
        super().__init__(f"POST /api{path} answered {status} (expected {expected}): {body}")


@functools.cache
def _shared_handler() -> Any:
    from django.core.handlers.wsgi import WSGIHandler

    # One handler for all clients, as a server process has one: a handler loads the
    # middleware once (whitenoise scans every static file).
    return WSGIHandler()


class JsonApi:
    """JSON requests to /api, handed to Django's WSGI handler as a WSGI server hands
    them: the whole stack (middleware, sessions, JSON parsing) in-process, without a
    socket, and the signals a server's request fires, ``request_finished`` closing the
    connections older than ``DATABASE_CONNECTION_MAX_AGE``. An API client that keeps no
    cookies: the API is used with bearer tokens."""

    def __init__(
        self, *, token: str | None = None, language: str = "en", remote_addr: str = "127.0.0.1"
    ) -> None:
        self.token = token
        self.language = language
        # The client address the site sees (REMOTE_ADDR): rate limits count by it.
        self.remote_addr = remote_addr

    def post(self, path: str, body: dict[str, Any], *, expect: int) -> Any:
        data = json.dumps(body).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": f"/api{path}",
            "QUERY_STRING": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": self.remote_addr,
            "HTTP_HOST": "testserver",
            "HTTP_ACCEPT_LANGUAGE": self.language,
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(data)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(data),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if self.token:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        statuses: list[str] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
            statuses.append(status)

        response = _shared_handler()(environ, start_response)
        try:
            content = b"".join(response)
        finally:
            response.close()  # request_finished, as the server sends it
        status = int(statuses[0].split()[0])
        answer = json.loads(content) if content else None
        if status != expect:
            raise ApiRefused(path, status, expect, answer)
        return answer


JOIN_LINK = re.compile(r"/j/([A-Za-z0-9_-]+)")
CODE = re.compile(r"\b(\d{6})\b")


def message_mark() -> int:
    """Where the memory gateway's list ends now: SMS delivered later come after it."""
    from inviteonly.sms.gateways import get_gateway
    from inviteonly.sms.gateways.memory import MemoryGateway

    gateway = get_gateway()
    assert isinstance(gateway, MemoryGateway)
    return len(gateway.messages)


def receive_sms(to: str, *, since: int, pattern: re.Pattern[str]) -> str:
    """Deliver due SMS (anyone's) until one to ``to``, delivered after ``since``, holds
    ``pattern``; return the pattern's first group. What the ``sms_outbox`` fixture does."""
    from django.db import close_old_connections

    from inviteonly.sms.delivery import deliver_due_messages
    from inviteonly.sms.gateways import get_gateway
    from inviteonly.sms.gateways.memory import MemoryGateway

    gateway = get_gateway()
    assert isinstance(gateway, MemoryGateway)
    deadline = time.monotonic() + 30
    while True:
        try:
            delivered = deliver_due_messages(gateway=gateway)
        finally:
            close_old_connections()  # what the delivery worker does after each batch
        for message in gateway.messages[since:]:
            if message.to == to:
                match = pattern.search(message.text)
                if match:
                    return match.group(1)
        if time.monotonic() > deadline:
            raise AssertionError(f"no SMS matching {pattern.pattern!r} reached {to}")
        if not delivered:
            # Another thread holds our message in its batch: give it the GIL.
            time.sleep(0.0002)


class PhoneNumbers:
    """Distinct Russian mobile numbers, "+7916" and seven digits, safe across threads."""

    def __init__(self, start: int = 1_000_000) -> None:
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            serial = next(self._counter)
        if serial >= 10**7:
            raise RuntimeError("out of phone numbers")
        return f"+7916{serial:07d}"


class ClientAddresses:
    """Distinct client addresses from 198.18.0.0/15, the range set aside for
    benchmarks (RFC 2544). Only written into REMOTE_ADDR of in-process requests:
    nothing is ever sent to them. Each simulated person gets their own, as real
    newcomers have, so per-address rate limits see real traffic's shape."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            serial = next(self._counter)
        if serial >= 2**17:
            raise RuntimeError("out of benchmark client addresses")
        return f"198.{18 + serial // 65536}.{serial // 256 % 256}.{serial % 256}"


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------


@dataclass
class Phase(Generic[Result]):
    """What one phase of a ``WorkerPool`` did: ``wall_s`` from the common start to the
    last worker's end; ``results`` worker by worker, each in the order it ran them."""

    threads: int
    wall_s: float
    results: list[Result] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return len(self.results) / self.wall_s if self.wall_s else 0.0


class WorkerPool(Generic[State]):
    """``size`` long-lived threads, each with its own state (made on first use in the
    thread, so thread-bound things like database connections stay with it)."""

    def __init__(self, size: int, make_state: Callable[[], State]) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one thread")
        self.size = size
        self._make_state = make_state
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="bench")

    def _state(self) -> State:
        state: State | None = getattr(self._local, "state", None)
        if state is None:
            state = self._make_state()
            self._local.state = state
        return state

    def run(
        self,
        task: Callable[[State, int], Result],
        *,
        total: int | None = None,
        each: int | None = None,
    ) -> Phase[Result]:
        """Run ``task(state, i)`` ``total`` times in all (threads take the next ``i``
        from a shared counter) or ``each`` times on every thread. Every thread sets up
        its state, then all start together; the clock runs from that start to the end
        of the last task."""
        if (total is None) == (each is None):
            raise ValueError("give total or each")
        counter = itertools.count()
        lock = threading.Lock()
        start: list[float] = []
        barrier = threading.Barrier(self.size, action=lambda: start.append(time.perf_counter()))

        def work() -> tuple[float, list[Result]]:
            state = self._state()
            results: list[Result] = []
            barrier.wait()
            done = 0
            while True:
                if each is not None:
                    if done >= each:
                        break
                    index = done
                else:
                    with lock:
                        index = next(counter)
                    assert total is not None
                    if index >= total:
                        break
                results.append(task(state, index))
                done += 1
            return time.perf_counter(), results

        futures = [self._executor.submit(work) for _ in range(self.size)]
        ends: list[float] = []
        results: list[Result] = []
        for future in futures:
            end, worker_results = future.result()
            ends.append(end)
            results.extend(worker_results)
        return Phase(threads=self.size, wall_s=max(ends) - start[0], results=results)

    def close(self) -> None:
        """Close every thread's database connections, then the threads."""
        from django.db import connections

        self.run(lambda _state, _index: connections.close_all(), each=1)
        self._executor.shutdown(wait=True)


# ---------------------------------------------------------------------------
# Counting
# ---------------------------------------------------------------------------


class CpuWatch:
    """How busy the rest of the machine was: CPU time of all processes (Linux
    /proc/stat) minus this process's own, as a share of every CPU's wall time."""

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
            ticks = [int(value) for value in fields[1:9]]
            per_second = os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None
        busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
        return busy / per_second, time.process_time(), time.monotonic()

    def other_processes_share(self) -> float | None:
        end = self._sample()
        if self._start is None or end is None:
            return None
        busy, own, wall = (after - before for after, before in zip(end, self._start, strict=True))
        capacity = wall * (os.cpu_count() or 1)
        return max(0.0, busy - own) / capacity if capacity else None


@dataclass
class HashCount:
    encode: int = 0
    verify: int = 0

    @property
    def total(self) -> int:
        return self.encode + self.verify


@contextmanager
def _wrapping_password_hashers(
    wrap: Callable[[str, Callable[..., Any]], Callable[..., Any]],
) -> Iterator[None]:
    """Replace ``encode`` and ``verify`` of every configured password hasher with
    ``wrap(kind, original)``; put the originals back afterwards."""
    from django.contrib.auth.hashers import get_hashers

    patched: list[tuple[type, str, Any]] = []
    try:
        for hasher in get_hashers():
            cls = type(hasher)
            for kind in ("encode", "verify"):
                original = cls.__dict__.get(kind)
                if original is not None:
                    patched.append((cls, kind, original))
                    setattr(cls, kind, wrap(kind, original))
        yield
    finally:
        for cls, kind, original in reversed(patched):
            setattr(cls, kind, original)


@contextmanager
def count_password_hashes() -> Iterator[HashCount]:
    """Count calls of ``encode`` (make_password) and ``verify`` (check_password) on every
    configured password hasher. Not thread-aware: use it with one thread running."""
    count = HashCount()

    def counting(kind: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            setattr(count, kind, getattr(count, kind) + 1)
            return original(*args, **kwargs)

        return wrapper

    with _wrapping_password_hashers(counting):
        yield count


class HashTimer:
    """Wall seconds each thread spends inside password hashers while
    ``timing_password_hashes`` is active."""

    def __init__(self) -> None:
        self._local = threading.local()

    def take(self) -> float:
        """This thread's seconds in hashers since its last ``take``."""
        seconds: float = getattr(self._local, "seconds", 0.0)
        self._local.seconds = 0.0
        return seconds

    def add(self, seconds: float) -> None:
        self._local.seconds = getattr(self._local, "seconds", 0.0) + seconds


@contextmanager
def timing_password_hashes(timer: HashTimer) -> Iterator[None]:
    """Add the wall time of every hasher call to ``timer``, per thread."""

    def timing(_kind: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timer.add(time.perf_counter() - start)

        return wrapper

    with _wrapping_password_hashers(timing):
        yield


@dataclass
class QueryCount:
    queries: int = 0


@contextmanager
def count_queries() -> Iterator[QueryCount]:
    """Count SQL statements on this thread's default connection."""
    from django.db import connection

    count = QueryCount()

    def wrapper(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        count.queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield count


def argon2_parameters() -> dict[str, int]:
    """The Argon2 parameters Django's hasher uses."""
    from django.contrib.auth.hashers import Argon2PasswordHasher

    hasher = Argon2PasswordHasher()
    return {
        "time_cost": hasher.time_cost,
        "memory_cost": hasher.memory_cost,
        "parallelism": hasher.parallelism,
    }


def profile_text(function: Callable[[], Any], *, limit: int = 35) -> str:
    """cProfile ``function`` (this thread only): the top entries by cumulative and by
    own time."""
    profiler = cProfile.Profile()
    profiler.runcall(function)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)
    # Shorter paths: the repository's own files relative to it, libraries by package.
    text = out.getvalue().replace(f"{REPO_ROOT}/", "")
    return re.sub(r"\S*/(?:site|dist)-packages/", "", text)


def say(line: str) -> None:
    print(line, flush=True)


# ---------------------------------------------------------------------------
# The production server on loopback, and HTTP to it
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    seconds: float


LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class Site:
    """A server on 127.0.0.1; every request leaves from a loopback source address."""

    def __init__(self, port: int) -> None:
        self.port = port

    def connect(self, source: str) -> http.client.HTTPConnection:
        if ipaddress.ip_address(source) not in LOOPBACK:
            raise ValueError(f"{source} is not a loopback address")
        return http.client.HTTPConnection(
            "127.0.0.1", self.port, source_address=(source, 0), timeout=60
        )

    @staticmethod
    def send(
        connection: http.client.HTTPConnection, method: str, path: str, body: Any = None
    ) -> Answer:
        payload = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if payload else {}
        started = time.perf_counter()
        connection.request(method, f"/api{path}", body=payload, headers=headers)
        response = connection.getresponse()
        content = response.read()
        seconds = time.perf_counter() - started
        return Answer(response.status, json.loads(content) if content else None, seconds)

    def post(self, path: str, body: Any, *, source: str) -> Answer:
        connection = self.connect(source)
        try:
            return self.send(connection, "POST", path, body)
        finally:
            connection.close()


@contextmanager
def running_server(port: int) -> Iterator[Site]:
    """``inviteonly serve`` in a child process, until the block ends."""
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "inviteonly.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--no-migrate"],
            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        raise RuntimeError(
                            f"the server did not start:\n{log.read().decode()}"
                        ) from None
                    time.sleep(0.2)
            yield Site(port)
        finally:
            server.terminate()
            server.wait(timeout=30)
