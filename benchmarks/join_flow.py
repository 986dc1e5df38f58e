"""How many complete registrations per second, against the bare Argon2 hashing rate.

Run from the repository root::

    python -m benchmarks.join_flow [--quick] [--concurrency N] [--postgres URL] [--profile]

What one *registration* is: a founder (created once, logged in once through
``POST /api/session``) invites a fresh number (``POST /api/invitations``); the queued
invitation SMS is delivered through the memory gateway (``deliver_due_messages``) and
the join token read from it (in production the delivery worker does this; here the
registering thread does, so its cost stays in the flow); the newcomer looks at the invitation
(``POST /api/join/invitation``), starts joining (``POST /api/join``), gets the code by
SMS (delivered the same way) and confirms it (``POST /api/join/confirm``), which
creates the member and answers with a session token. Every request is handed to
Django's WSGI handler as a WSGI server hands it: the whole Django stack (middleware,
sessions, JSON parsing, the request signals), in-process, without a socket. Each
worker thread has its own clients and its own database connection; the request's
``request_finished``, and the thread after every delivery batch (as the worker does),
close obsolete connections, so connections live exactly as long as in production
(``DATABASE_CONNECTION_MAX_AGE``).

Password hashes per registration: one. ``do_start_join`` (accounts/actions.py) hashes
the password once with ``make_password``; ``do_confirm_join`` copies the stored hash
into the member; the founder's bearer token is checked with an HMAC, not a password
hash. The benchmark also counts hasher calls during one registration and uses that
count (and says so if it ever differs from one).

What is measured, in one run and on one database:

* ``flow_per_s``: registrations per second with ``--concurrency`` threads (default:
  the number of CPUs) registering at once.
* ``hash_bound_per_s``: ``make_password`` calls per second (the same PASSWORD_HASHERS,
  so Argon2id with Django's parameters) with the same number of threads, divided by
  the hashes one registration needs. No registration can be faster than this.
* ``ratio`` = flow ÷ hash-bound (target ≥ 0.9): the share of the machine the flow
  spends on the deliberate cost. Below the target, the rest of the stack costs more
  than a tenth of a registration.
* ``overhead_ms_per_registration`` (target ≤ 15 ms): at concurrency 1, the mean of
  one registration's wall time minus the time its own password hashing took (the
  hasher's ``encode``; salt and lookup stay in the overhead): the issue's "wall time
  of one complete registration minus its password hashing time", taken inside each
  registration, so the machine's load moves both sides of the subtraction alike.
  ``overhead_ms_median`` is the median of the same. The step breakdown (ms per
  request and per delivery, with SQL statement counts) says where that time goes.
  ``overhead_ms_against_bare_hash`` is the cross-check: the mean registration minus
  the mean bare ``make_password`` (measured in blocks of their own in the same
  rounds). It differs from the headline by what the hashes inside the flow took more
  or less than bare ones (``hash_ms_in_flow`` against ``make_password_ms``).

  The registrations run back to back: the figure is the steady state of a site
  busy registering, whose rate is what the ratio is about. Work that runs after the
  process has not run for a while finds the CPU caches cold and is slower: right
  after the join's hash (Argon2 fills 100 MiB; 90 ms of sleep does the same here),
  its last statement and its answer take about three times as long as warm. That
  cost is the registration's own and stays in the headline. A registration that
  arrives at a process that was idle or hashing pays it on its first steps too:
  ``overhead_ms_first_of_block`` is the mean of such registrations, the first of
  each block, which follows the benchmark's own bare hashes and is kept out of the
  headline (a bare hash is not part of a registration). A thread's database
  connection is replaced as in production, after ``DATABASE_CONNECTION_MAX_AGE``
  (ten minutes by default, longer than a run): the new one plans its statements
  afresh, about 30 ms of the thread's work.

How to read the step breakdown: "invite 8.1/6.9/10" is 8.1 ms of wall time per
registration for that step, 6.9 ms of it CPU time of the registering thread (Python,
SQLite's own work; not waiting on PostgreSQL, not the Argon2 lanes, which argon2-cffi
runs on threads of its own), and 10 SQL statements (counted on one probe
registration; on SQLite each transaction adds its ``BEGIN IMMEDIATE``). Wall minus
CPU is waiting: fsync, locks, PostgreSQL round trips. At concurrency N the steps take
longer because the threads share the CPUs and (on SQLite) the write lock.

Noise: the rounds alternate the order of the registrations and hashes of concurrency
1, and of the hash and flow phases of concurrency N, so a change in the machine's
load hits both sides alike. The line "CPU used by other processes" says how busy the
rest of the machine was (for PostgreSQL it includes the server, which is part of the
work); above ~15 % on SQLite, take the numbers as rough.

Each database is measured in a child process of this script (Django is configured
once per process) on a throwaway database: a fresh SQLite file in a temporary
directory, and, when a PostgreSQL URL is given (``--postgres`` or
INVITEONLY_BENCH_POSTGRES_URL), a database created next to the one the URL names and
dropped afterwards. The last line of the output is one JSON object: SQLite at the top
level, PostgreSQL under ``postgresql`` (and as ``postgres_*`` keys).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks._common import (
    CODE,
    JOIN_LINK,
    ClientAddresses,
    CpuWatch,
    HashTimer,
    JsonApi,
    PhoneNumbers,
    QueryCount,
    WorkerPool,
    add_database_arguments,
    argon2_parameters,
    benchmark_environment,
    count_password_hashes,
    count_queries,
    database_description,
    interpreter_description,
    message_mark,
    profile_text,
    receive_sms,
    run_per_database,
    set_up_django,
    timing_password_hashes,
)

PASSWORD = "correct horse battery"  # noqa: S105  (the newcomers' password, as in the tests)
# Read from the code (see the module docstring); checked against a count at run time.
HASHES_PER_REGISTRATION_BY_READING = 1
STEPS = ("invite", "deliver_invitation", "preview", "join", "deliver_code", "confirm")
TARGET_RATIO = 0.9
TARGET_OVERHEAD_MS = 15.0


@dataclass(frozen=True)
class Counts:
    # Untimed registrations and hashes per thread, before measuring. On PostgreSQL a
    # connection plans each statement afresh for its first ten runs (psycopg prepares
    # it after five, PostgreSQL tries five custom plans before a generic one); a
    # server under load, whose rate this measures, is past that.
    warmup: int
    rounds: int  # each round: hashes and registrations, at concurrency 1 and at N
    sequential: int  # registrations (and hashes) per round at concurrency 1
    concurrent: int  # registrations (and hashes) per round at concurrency N
    profiled: int  # registrations profiled with --profile


QUICK = Counts(warmup=12, rounds=3, sequential=3, concurrent=8, profiled=3)
FULL = Counts(warmup=12, rounds=10, sequential=5, concurrent=16, profiled=10)

PHONES = PhoneNumbers()
ADDRESSES = ClientAddresses()
# While measuring: how long each thread's registration spent in its own password hash.
HASH_TIMER = HashTimer()

# Invitations each founder sends before the next takes over: below the per-member
# rate limit ("invite": 20 a day), as a site's many inviters would be.
INVITATIONS_PER_INVITER = 10


# ---------------------------------------------------------------------------
# One registration, one hash
# ---------------------------------------------------------------------------


class Inviters:
    """Logged-in founders, shared by the threads; each sends INVITATIONS_PER_INVITER
    invitations, from its own client address, before the next one takes over."""

    def __init__(self, founders: list[tuple[int, str]]) -> None:
        self._founders = [
            (founder_id, JsonApi(token=token, remote_addr=ADDRESSES.next()))
            for founder_id, token in founders
        ]
        self._sent = 0
        self._lock = threading.Lock()

    def take(self) -> tuple[int, JsonApi]:
        with self._lock:
            index, self._sent = self._sent // INVITATIONS_PER_INVITER, self._sent + 1
        if index >= len(self._founders):
            raise RuntimeError("the benchmark ran out of inviters; create more founders")
        return self._founders[index]


class FlowClients:
    """One thread's view: the shared inviters and a newcomer's HTTP client (which takes
    a fresh client address for every registration)."""

    def __init__(self, inviters: Inviters) -> None:
        self.inviters = inviters
        self.newcomer = JsonApi()


class Laps:
    """Milliseconds (and, if counted, SQL statements) per step of one registration."""

    def __init__(self, queries: QueryCount | None = None) -> None:
        self._queries = queries
        self._seen_queries = queries.queries if queries else 0
        self._last = self._start = time.perf_counter()
        self._last_cpu = time.thread_time()
        self.ms: dict[str, float] = {}
        # CPU time of this thread alone: Python, SQLite's own work, not waits, not the
        # Argon2 threads (argon2-cffi runs the lanes of a hash on threads of its own).
        self.cpu_ms: dict[str, float] = {}
        self.statements: dict[str, int] = {}
        # Milliseconds this registration spent hashing passwords (while timed).
        self.hash_ms = 0.0

    def lap(self, step: str) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.ms[step] = (now - self._last) * 1000
        self.cpu_ms[step] = (cpu - self._last_cpu) * 1000
        self._last, self._last_cpu = now, cpu
        if self._queries is not None:
            self.statements[step] = self._queries.queries - self._seen_queries
            self._seen_queries = self._queries.queries

    @property
    def total_ms(self) -> float:
        return (self._last - self._start) * 1000


def register(clients: FlowClients, *, queries: QueryCount | None = None) -> Laps:
    """One complete registration of a fresh number; raises if any step is refused."""
    phone = PHONES.next()
    founder_id, inviter = clients.inviters.take()
    clients.newcomer.remote_addr = ADDRESSES.next()
    laps = Laps(queries)
    HASH_TIMER.take()  # forget hashes timed before this registration
    mark = message_mark()
    inviter.post("/invitations", {"phone": phone, "note": "benchmark"}, expect=201)
    laps.lap("invite")
    token = receive_sms(phone, since=mark, pattern=JOIN_LINK)
    laps.lap("deliver_invitation")
    preview = clients.newcomer.post("/join/invitation", {"token": token}, expect=200)
    laps.lap("preview")
    mark = message_mark()
    started = clients.newcomer.post(
        "/join",
        {
            "token": token,
            "phone": phone,
            "display_name": "Benchmark Newcomer",
            "password": PASSWORD,
            "language": "en",
        },
        expect=202,
    )
    laps.lap("join")
    code = receive_sms(phone, since=mark, pattern=CODE)
    laps.lap("deliver_code")
    joined = clients.newcomer.post(
        "/join/confirm",
        {"verification_token": started["verification_token"], "code": code},
        expect=201,
    )
    laps.lap("confirm")
    laps.hash_ms = HASH_TIMER.take() * 1000
    invited_by = joined["member"]["invited_by"] or {}
    if not joined["session_token"] or invited_by.get("id") != founder_id or not preview:
        raise AssertionError(f"unexpected answer to /join/confirm: {joined}")
    return laps


def hash_password() -> float:
    """Seconds for one ``make_password`` with the configured hashers."""
    from django.contrib.auth.hashers import make_password

    start = time.perf_counter()
    make_password(PASSWORD)
    return time.perf_counter() - start


# ---------------------------------------------------------------------------
# The child: one database
# ---------------------------------------------------------------------------


def create_founders(count: int) -> list[tuple[int, str]]:
    """Founders made directly in the database (as tests' make_member does), each logged
    in through the API from its own address. Returns their ids and bearer tokens."""
    from django.contrib.auth.hashers import make_password

    from inviteonly.accounts.models import Member
    from inviteonly.lib import clock, crypto
    from inviteonly.lib.phone_numbers import normalize_phone_number

    password_hash = make_password(PASSWORD)
    founders = []
    for serial in range(count):
        number = normalize_phone_number(f"+7915{serial:07d}")
        founder = Member.objects.create(
            display_name="Founder Anna",
            phone_blind_index=crypto.blind_index(number.e164),
            phone_ciphertext=crypto.encrypt(number.e164, purpose=crypto.Purpose.PHONE_NUMBER),
            phone_masked=number.masked,
            language="en",
            role=Member.Role.FOUNDER,
            is_staff=True,
            is_superuser=True,
            joined_at=clock.now(),
            password=password_hash,
        )
        session = JsonApi(remote_addr=ADDRESSES.next()).post(
            "/session", {"phone": number.e164, "password": PASSWORD}, expect=201
        )
        founders.append((founder.id, str(session["session_token"])))
    return founders


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _round(value: float, digits: int = 2) -> float:
    return round(value, digits)


def measure(database: str, counts: Counts, concurrency: int, profile: bool) -> dict[str, Any]:
    """Everything one child measures; prints human-readable lines on the way."""
    from django.db import connections

    def say(text: str) -> None:
        print(f"[{database}] {text}", flush=True)

    # Registrations this run makes, at most: warm-ups on every thread, probes, rounds.
    registrations = (
        counts.warmup * (concurrency + 2) + 4 + counts.profiled
        + counts.rounds * (counts.sequential + 1 + counts.concurrent)
    )
    inviters = Inviters(create_founders(-(-registrations // INVITATIONS_PER_INVITER) + 1))
    argon2 = argon2_parameters()
    say(
        f"{database_description_cached()}; {interpreter_description()}; concurrency "
        f"{concurrency}; Argon2id time_cost="
        f"{argon2['time_cost']} memory_cost={argon2['memory_cost']} KiB "
        f"parallelism={argon2['parallelism']}"
    )

    # One probe registration on this thread: count its password hashes and statements.
    probe_clients = FlowClients(inviters)
    register(probe_clients)  # warms this thread's clients
    with count_password_hashes() as hashes, count_queries() as queries:
        probe = register(probe_clients, queries=queries)
    hashes_per_registration = hashes.total
    say(
        f"password hashes per registration: {hashes_per_registration} (counted: "
        f"{hashes.encode} make_password, {hashes.verify} check_password; by reading the "
        f"code: {HASHES_PER_REGISTRATION_BY_READING}, do_start_join → make_password)"
    )
    if hashes_per_registration != HASHES_PER_REGISTRATION_BY_READING:
        say("WARNING: the counted hashes differ from the code as read; using the count")
    if hashes_per_registration < 1:
        raise AssertionError("a registration that hashes no password cannot be hash-bound")
    connections.close_all()

    def make_clients() -> FlowClients:
        return FlowClients(inviters)

    def registration_task(clients: FlowClients, _index: int) -> Laps:
        return register(clients)

    def hash_task(_clients: FlowClients, _index: int) -> float:
        return hash_password()

    single: WorkerPool[FlowClients] = WorkerPool(1, make_clients)
    pool: WorkerPool[FlowClients] = (
        single if concurrency == 1 else WorkerPool(concurrency, make_clients)
    )
    sequential_laps: list[Laps] = []
    first_laps: list[Laps] = []  # the unmeasured first of each block, for comparison
    sequential_hashes: list[float] = []
    concurrent_laps: list[Laps] = []
    round_ratios: list[float] = []
    flow_wall = hash_wall = 0.0
    flow_done = hash_done = 0
    # CPU time of this whole process (every thread, the Argon2 lanes included) spent in
    # the concurrent phases: what a registration and a hash cost the machine, whatever
    # else runs on it. The PostgreSQL server's CPU is not in it.
    flow_cpu = hash_cpu = 0.0
    profile_output = ""
    try:
        for warm_pool in {id(single): single, id(pool): pool}.values():
            warm_pool.run(registration_task, each=counts.warmup)
            warm_pool.run(hash_task, each=counts.warmup)
        cpu = CpuWatch()
        for round_number in range(1, counts.rounds + 1):
            # Registrations back to back, and bare hashes in a block of their own.
            for kind in ("flow", "hash") if round_number % 2 else ("hash", "flow"):
                if kind == "flow":
                    # The first follows hashes of the benchmark's own, not a registration
                    # (see the module docstring): it warms up, unmeasured.
                    laps = single.run(registration_task, total=counts.sequential + 1).results
                    first_laps.append(laps[0])
                    sequential_laps += laps[1:]
                else:
                    sequential_hashes += single.run(hash_task, total=counts.sequential).results
            per_s: dict[str, float] = {}
            for kind in ("hash", "flow") if round_number % 2 else ("flow", "hash"):
                if kind == "hash":
                    cpu_before = time.process_time()
                    hashed = pool.run(hash_task, total=counts.concurrent)
                    hash_cpu += time.process_time() - cpu_before
                    hash_wall += hashed.wall_s
                    hash_done += len(hashed.results)
                    per_s[kind] = hashed.per_s
                else:
                    cpu_before = time.process_time()
                    flowed = pool.run(registration_task, total=counts.concurrent)
                    flow_cpu += time.process_time() - cpu_before
                    flow_wall += flowed.wall_s
                    flow_done += len(flowed.results)
                    concurrent_laps += flowed.results
                    per_s[kind] = flowed.per_s
            round_ratios.append(per_s["flow"] / per_s["hash"] * hashes_per_registration)
            say(
                f"round {round_number}/{counts.rounds}: {per_s['flow']:.2f} registrations/s, "
                f"{per_s['hash']:.2f} hashes/s at concurrency {concurrency} "
                f"(ratio {round_ratios[-1]:.2f})"
            )
        other_cpu_share = cpu.other_processes_share()
        if profile:
            profile_output = profile_text(
                lambda: [
                    register(probe_clients)
                    for _ in range(counts.profiled)
                ]
            )
    finally:
        if pool is not single:
            pool.close()
        single.close()
        connections.close_all()

    flow_per_s = flow_done / flow_wall
    hash_per_s = hash_done / hash_wall
    hash_bound_per_s = hash_per_s / hashes_per_registration
    ratio = flow_per_s / hash_bound_per_s
    # Each registration's wall time minus the time its own hashes took.
    overheads_ms = [laps.total_ms - laps.hash_ms for laps in sequential_laps]
    overhead_ms = _mean(overheads_ms)
    first_overhead_ms = _mean([laps.total_ms - laps.hash_ms for laps in first_laps])
    registration_ms = _mean([laps.total_ms for laps in sequential_laps])
    hash_in_flow_ms = _mean([laps.hash_ms for laps in sequential_laps])
    make_password_ms = _mean(sequential_hashes) * 1000
    against_bare_ms = registration_ms - make_password_ms * hashes_per_registration
    cpu_ms_per_registration = flow_cpu / flow_done * 1000
    cpu_ms_per_hash = hash_cpu / hash_done * 1000
    # The ratio a CPU-bound machine would reach if only this process's CPU counted.
    cpu_ratio = cpu_ms_per_hash * hashes_per_registration / cpu_ms_per_registration
    steps_ms = {step: _mean([laps.ms[step] for laps in sequential_laps]) for step in STEPS}
    steps_cpu_ms = {
        step: _mean([laps.cpu_ms[step] for laps in sequential_laps]) for step in STEPS
    }
    concurrent_steps_ms = {
        step: _mean([laps.ms[step] for laps in concurrent_laps]) for step in STEPS
    }

    ratio_ok = ratio >= TARGET_RATIO
    overhead_ok = overhead_ms <= TARGET_OVERHEAD_MS
    say(
        f"flow: {flow_per_s:.2f} registrations/s at concurrency {concurrency} "
        f"({flow_done} in {flow_wall:.2f} s)"
    )
    say(
        f"hash: {hash_per_s:.2f} make_password/s at concurrency {concurrency} "
        f"({hash_done} in {hash_wall:.2f} s) / {hashes_per_registration} per registration "
        f"= hash-bound {hash_bound_per_s:.2f} registrations/s"
    )
    say(
        f"ratio: {ratio:.3f} (target ≥ {TARGET_RATIO}) {'OK' if ratio_ok else 'MISSED'}; "
        f"median of the rounds' ratios {statistics.median(round_ratios):.3f}"
    )
    say(
        f"CPU of this process at concurrency {concurrency}: {cpu_ms_per_registration:.1f} ms "
        f"per registration, {cpu_ms_per_hash:.1f} ms per make_password → CPU ratio "
        f"{cpu_ratio:.3f} (what the ratio would be if CPU were the only limit"
        f"{' and the PostgreSQL server free' if database == 'postgres' else ''})"
    )
    say(
        f"concurrency 1: each registration's wall time − its own hashes: overhead "
        f"{overhead_ms:.1f} ms (median of {len(overheads_ms)} "
        f"{statistics.median(overheads_ms):.1f}; target ≤ {TARGET_OVERHEAD_MS:g} ms) "
        f"{'OK' if overhead_ok else 'MISSED'}"
    )
    say(
        f"concurrency 1, cross-check: {registration_ms:.1f} ms per registration − "
        f"{hashes_per_registration} × {make_password_ms:.1f} ms bare make_password = "
        f"{against_bare_ms:.1f} ms (its hashes took {hash_in_flow_ms:.1f} ms inside it); "
        f"the unmeasured first of each block, after hashing: {first_overhead_ms:.1f} ms"
    )
    say(
        "steps at concurrency 1, ms wall / ms CPU of the thread / SQL statements: "
        + ", ".join(
            f"{step} {steps_ms[step]:.1f}/{steps_cpu_ms[step]:.1f}/{probe.statements[step]}"
            for step in STEPS
        )
        + f"; join without its hash {steps_ms['join'] - hash_in_flow_ms:.1f}"
    )
    say(
        f"steps at concurrency {concurrency}, ms wall: "
        + ", ".join(f"{step} {concurrent_steps_ms[step]:.1f}" for step in STEPS)
    )
    if other_cpu_share is not None:
        say(
            f"CPU used by other processes while measuring: {other_cpu_share:.0%} of the "
            f"machine{' (includes the PostgreSQL server)' if database == 'postgres' else ''}"
            + ("; numbers are noisy" if other_cpu_share > 0.15 and database == "sqlite" else "")
        )
    if profile_output:
        say(f"cProfile of {counts.profiled} registrations at concurrency 1:")
        for line in profile_output.splitlines():
            print(f"    {line}", flush=True)

    return {
        "database": database,
        "database_version": database_description_cached(),
        "python": interpreter_description(),
        "concurrency": concurrency,
        "flow_per_s": _round(flow_per_s, 3),
        "hash_bound_per_s": _round(hash_bound_per_s, 3),
        "ratio": _round(ratio, 3),
        "ratio_median_of_rounds": _round(statistics.median(round_ratios), 3),
        "overhead_ms_per_registration": _round(overhead_ms),
        "overhead_ms_median": _round(statistics.median(overheads_ms)),
        "overhead_ms_against_bare_hash": _round(against_bare_ms),
        "overhead_ms_first_of_block": _round(first_overhead_ms),
        "hashes_per_registration": hashes_per_registration,
        "hashes_counted": {"make_password": hashes.encode, "check_password": hashes.verify},
        "hash_per_s": _round(hash_per_s, 3),
        "cpu_ms_per_registration": _round(cpu_ms_per_registration),
        "cpu_ms_per_hash": _round(cpu_ms_per_hash),
        "cpu_ratio": _round(cpu_ratio, 3),
        "registration_ms": _round(registration_ms),
        "make_password_ms": _round(make_password_ms),
        "hash_ms_in_flow": _round(hash_in_flow_ms),
        "flow_per_s_at_concurrency_1": _round(1000 / registration_ms, 3),
        "steps_ms": {step: _round(value) for step, value in steps_ms.items()},
        "steps_cpu_ms": {step: _round(value) for step, value in steps_cpu_ms.items()},
        "join_without_hash_ms": _round(steps_ms["join"] - hash_in_flow_ms),
        "steps_ms_concurrent": {
            step: _round(value) for step, value in concurrent_steps_ms.items()
        },
        "sql_statements_per_step": probe.statements,
        "argon2": argon2,
        "registrations_measured": {"concurrent": flow_done, "sequential": len(sequential_laps)},
        "hashes_measured": {"concurrent": hash_done, "sequential": len(sequential_hashes)},
        "rounds": counts.rounds,
        "other_processes_cpu_share": (
            None if other_cpu_share is None else _round(other_cpu_share, 3)
        ),
        "targets": {"ratio": TARGET_RATIO, "overhead_ms_per_registration": TARGET_OVERHEAD_MS},
        "meets_targets": ratio_ok and overhead_ok,
    }


_DESCRIPTION: list[str] = []


def database_description_cached() -> str:
    if not _DESCRIPTION:
        _DESCRIPTION.append(database_description())
    return _DESCRIPTION[0]


def child_main(arguments: argparse.Namespace) -> int:
    counts = QUICK if arguments.quick else FULL
    with benchmark_environment(arguments.database, arguments.postgres):
        set_up_django()
        database_description_cached()
        with timing_password_hashes(HASH_TIMER):
            result = measure(
                arguments.database, counts, arguments.concurrency, arguments.profile
            )
    print(json.dumps(result), flush=True)
    return 0


# ---------------------------------------------------------------------------
# The parent: one child per database, one JSON line at the end
# ---------------------------------------------------------------------------


def parent_main(arguments: argparse.Namespace) -> int:
    child_arguments = ["--concurrency", str(arguments.concurrency)]
    if arguments.quick:
        child_arguments.append("--quick")
    if arguments.profile:
        child_arguments.append("--profile")
    return run_per_database(
        "benchmarks.join_flow", arguments.postgres, child_arguments,
        headline=["flow_per_s", "hash_bound_per_s", "ratio", "overhead_ms_per_registration"],
        defaults={"concurrency": arguments.concurrency},
    )


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.join_flow",
        description="Complete registrations per second against the bare Argon2 rate.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small counts: SQLite and PostgreSQL in ~1 min"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=os.cpu_count() or 1,
        help="threads registering (and hashing) at once (default: the number of CPUs)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print a cProfile of a few registrations at concurrency 1",
    )
    add_database_arguments(parser)
    arguments = parser.parse_args(argv)
    if arguments.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.child:
        return child_main(arguments)
    return parent_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
