"""SMS delivery through a real Kannel: our workers against a bare sendsms loop, and a
crash run that counts lost and duplicated messages.

Run from the repository root::

    python -m benchmarks.sms_delivery [--quick] [--postgres URL] [--messages N]

Kannel (bearerbox, smsbox and the fake SMSC of kannel-extras) is started on loopback
in a temporary directory, with the site itself in a thread of this process to take
Kannel's delivery reports, on a throwaway database (SQLite, or a PostgreSQL database
created next to the one ``--postgres`` / INVITEONLY_BENCH_POSTGRES_URL names).

* ``raw_sendsms_per_s``: three bare loops at once (one per worker of the 3-worker
  phase), each on one kept-alive connection, sending the very requests our kannel
  gateway sends (same texts, same ``dlr-url`` and ``dlr-mask``) as fast as smsbox
  answers. ``raw_sendsms_per_s_1_loop``: one such loop, the floor for one worker.
  Why loops side by side: with delivery reports asked for, smsbox takes about 20 ms
  to answer each sendsms while its CPU is nearly idle (waiting, not working; measured
  on Debian's Kannel 1.4.5 with a delivery-report sink that answers at once, one
  loop gives ~55/s, three ~120/s, eight ~500/s), so a single loop measures that
  latency, not what Kannel can take. ``raw_sendsms_without_reports_per_s``: one loop
  without ``dlr-url``, for scale (smsbox answers at once; crash safety depends on
  the reports, so the gateway always asks for them).
* ``kannel_msgs_per_s_1_worker`` / ``_3_workers``: messages per second handed to Kannel
  by 1 and by 3 ``inviteonly worker`` processes, from the moment a held-back queue is
  released until every message is sent. ``ratio`` = 3 workers ÷ three raw loops
  (target ≥ 0.7); ``ratio_1_worker`` = 1 worker ÷ one raw loop.
* The crash run (``--messages``, default 10,000): 3 workers, one killed with SIGKILL
  once a third is sent and replaced by a fresh one; ``lost`` and ``duplicated`` are
  counted at the fake SMSC's output, by each message's unique text.

The machine's other load moves the absolute numbers; the ratio compares two phases of
one run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path

from benchmarks._common import (
    POSTGRES_URL_VARIABLE,
    CpuWatch,
    benchmark_environment,
    database_description,
    set_up_django,
)

SETTINGS_MODULE = "inviteonly.settings"


def queue_held_messages(prefix: str, count: int) -> list[int]:
    """Queue ``count`` messages with unique texts, held back (due in a day) so that
    workers can start before the clock runs."""
    from django.db import transaction

    from inviteonly.lib import clock
    from inviteonly.lib.phone_numbers import normalize_phone_number
    from inviteonly.sms.models import OutboundSms, SmsPurpose
    from inviteonly.sms.outbox import queue_sms

    ids = []
    with transaction.atomic():
        for index in range(count):
            message = queue_sms(
                phone=normalize_phone_number(f"+7916{index:07d}"),
                text=f"{prefix} message {index}",
                purpose=SmsPurpose.JOIN_CODE,
            )
            ids.append(message.id)
        OutboundSms.objects.filter(id__in=ids).update(
            next_attempt_at=clock.now() + timedelta(days=1)
        )
    return ids


def release(ids: list[int]) -> None:
    from inviteonly.lib import clock
    from inviteonly.sms.models import OutboundSms

    OutboundSms.objects.filter(id__in=ids).update(next_attempt_at=clock.now())


def not_yet_sent(ids: list[int]) -> int:
    from inviteonly.sms.models import OutboundSms, SmsStatus

    return (
        OutboundSms.objects.filter(id__in=ids)
        .exclude(status__in=[SmsStatus.SENT, SmsStatus.DELIVERED])
        .count()
    )


def all_sent(ids: list[int]) -> bool:
    return not_yet_sent(ids) == 0


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def raw_sendsms(
    kannel: object, ids: list[int], *, connections: int = 1, reports: bool = True
) -> float:
    """Send the gateway's own requests for ``ids`` in bare loops, one per kept-alive
    connection, ``connections`` at once (without ``dlr-url`` and ``dlr-mask`` unless
    ``reports``); messages per second."""
    from django.conf import settings

    from inviteonly.lib import crypto
    from inviteonly.sms.gateways.kannel import sendsms_query
    from inviteonly.sms.models import OutboundSms
    from tests.kannel_fixture import PASSWORD, USERNAME, Kannel

    assert isinstance(kannel, Kannel)
    requests = []
    for message in OutboundSms.objects.filter(id__in=ids).order_by("id"):
        assert message.text_ciphertext is not None
        query = sendsms_query(
            to=crypto.decrypt(bytes(message.recipient_ciphertext),
                              purpose=crypto.Purpose.PHONE_NUMBER),
            text=crypto.decrypt(bytes(message.text_ciphertext), purpose=crypto.Purpose.SMS_TEXT),
            reference=str(message.id), sender_id="", username=USERNAME, password=PASSWORD,
        )
        if not reports:
            query = "&".join(
                part for part in query.split("&") if not part.startswith(("dlr-url=", "dlr-mask="))
            )
        requests.append(f"/cgi-bin/sendsms?{query}")
    failures: list[str] = []
    barrier = threading.Barrier(connections + 1)

    def loop(paths: list[str]) -> None:
        connection = http.client.HTTPConnection(
            "127.0.0.1", kannel.sendsms_port, timeout=settings.SMS_GATEWAY_TIMEOUT
        )
        barrier.wait()
        try:
            for path in paths:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                if response.status != 202:
                    failures.append(f"smsbox answered {response.status}")
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=loop, args=(requests[slot::connections],))
               for slot in range(connections)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(failures[0])
    return len(requests) / elapsed


class Workers:
    def __init__(self, environment: dict[str, str], directory: Path) -> None:
        self.environment = environment
        self.directory = directory
        self.processes: list = []

    def start(self, count: int) -> None:
        from tests.kannel_fixture import start_worker

        for _ in range(count):
            log = self.directory / f"worker-{len(self.processes)}.log"
            self.processes.append(
                start_worker(self.environment, settings_module=SETTINGS_MODULE, log=log)
            )

    def wait_started(self, timeout: float = 60) -> None:
        def started() -> bool:
            logs = [self.directory / f"worker-{n}.log" for n in range(len(self.processes))]
            return all(
                log.exists() and "delivery worker started" in log.read_text(errors="replace")
                for log in logs
            )

        wait_until(started, timeout=timeout, what="the workers to start")

    def stop(self) -> None:
        from tests.kannel_fixture import stop_worker

        for process in self.processes:
            stop_worker(process)
        self.processes = []


def timed_phase(workers: Workers, count: int, worker_count: int, prefix: str) -> float:
    ids = queue_held_messages(prefix, count)
    workers.start(worker_count)
    workers.wait_started()
    started = time.perf_counter()
    release(ids)
    wait_until(partial(all_sent, ids), timeout=600, what=f"{prefix} to be sent")
    elapsed = time.perf_counter() - started
    workers.stop()
    return count / elapsed


def crash_run(workers: Workers, kannel: object, count: int) -> dict[str, int]:
    from tests.kannel_fixture import Kannel

    assert isinstance(kannel, Kannel)
    prefix = "crash"
    ids = queue_held_messages(prefix, count)
    workers.start(3)
    workers.wait_started()
    release(ids)
    wait_until(lambda: not_yet_sent(ids) <= count - count // 3, timeout=600,
               what="a third to be sent")
    victim = workers.processes[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    print(f"  killed worker {victim.pid} (SIGKILL) with {not_yet_sent(ids)} messages to go",
          flush=True)
    workers.start(1)
    wait_until(partial(all_sent, ids), timeout=900, what="every message to be sent")
    workers.stop()

    def arrived() -> list[str]:
        return [sms.text for sms in kannel.received() if sms.text.startswith(f"{prefix} ")]

    wait_until(lambda: len(arrived()) >= count, timeout=120, what="the fake SMSC")
    time.sleep(2)  # a duplicate still in Kannel's queues would arrive now
    counts = Counter(arrived())
    expected = {f"{prefix} message {index}" for index in range(count)}
    return {
        "lost": len(expected - set(counts)),
        "duplicated": sum(number - 1 for number in counts.values() if number > 1),
        "retried": _retried(ids),
    }


def _retried(ids: list[int]) -> int:
    from inviteonly.sms.models import OutboundSms

    return OutboundSms.objects.filter(id__in=ids, attempts__gt=1).count()


def run(arguments: argparse.Namespace) -> dict[str, object]:
    from django.db import connection

    from tests.kannel_fixture import (
        MISSING,
        Kannel,
        SiteInThread,
        database_url,
        kannel_available,
        worker_environment,
    )

    if not kannel_available():
        raise SystemExit(MISSING)
    throughput_count = 500 if arguments.quick else 3000
    crash_count = arguments.messages or (1000 if arguments.quick else 10_000)
    directory = Path(tempfile.mkdtemp(prefix="inviteonly-sms-bench-"))
    (directory / "kannel").mkdir()
    kannel = Kannel(directory / "kannel")
    kannel.start()
    site = SiteInThread()
    # The lease must outlast Kannel's queue: a killed worker's last message is not sent
    # again only if Kannel's report 8 (the SMSC took it) comes first. When the workers
    # outrun the fake SMSC, the queue holds several seconds of messages at the kill,
    # and the fixture's 5 s lease (for tests with a few messages) sent one twice now
    # and then. Production's is 120 s.
    environment = worker_environment(
        kannel=kannel, site_url=site.url, database=database_url(connection.settings_dict),
        lease_seconds=30,
    )
    workers = Workers(environment, directory)
    watch = CpuWatch()
    try:
        from django.conf import settings

        # What INVITEONLY_SMS_DELIVERY_REPORT_BASE_URL does at start-up.
        settings.SMS_DELIVERY_REPORT_BASE_URL = site.url
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1"]
        print(f"Database: {database_description()}; Kannel on loopback", flush=True)
        # With delivery reports asked for, each sendsms answer takes smsbox ~20 ms of
        # waiting, not of work: one loop is bound by that latency and loops side by
        # side add up. So each worker phase is compared with as many loops.
        raw: dict[int, float] = {}
        for connections in (1, 3):
            raw_ids = queue_held_messages(f"raw{connections}", throughput_count)
            raw[connections] = raw_sendsms(kannel, raw_ids, connections=connections)
            # Kannel's reports for the raw phase settle before the next phase starts.
            wait_until(partial(all_sent, raw_ids), timeout=120, what="raw reports")
            print(f"raw sendsms, {connections} loop(s) at once: {raw[connections]:.0f} msgs/s "
                  f"({throughput_count} messages)", flush=True)
        bare = raw_sendsms(kannel, queue_held_messages("bare", throughput_count), reports=False)
        print(f"raw sendsms, 1 loop, without delivery reports: {bare:.0f} msgs/s", flush=True)
        one = timed_phase(workers, throughput_count, 1, "one")
        print(f"1 worker: {one:.0f} msgs/s", flush=True)
        three = timed_phase(workers, throughput_count, 3, "three")
        print(f"3 workers: {three:.0f} msgs/s", flush=True)
        print(f"crash run: {crash_count} messages, 3 workers, one killed", flush=True)
        crash = crash_run(workers, kannel, crash_count)
        print(f"  lost {crash['lost']}, duplicated {crash['duplicated']}, "
              f"retried after the kill {crash['retried']}", flush=True)
    finally:
        workers.stop()
        site.close()
        kannel.remove()
    other = watch.other_processes_share()
    if other is not None:
        print(f"CPU used by other processes: {other:.0%}", flush=True)
    return {
        "benchmark": "sms_delivery",
        "database": connection.vendor,
        "kannel_msgs_per_s_1_worker": round(one, 1),
        "kannel_msgs_per_s_3_workers": round(three, 1),
        "raw_sendsms_per_s": round(raw[3], 1),
        "ratio": round(three / raw[3], 3),
        "raw_sendsms_per_s_1_loop": round(raw[1], 1),
        "ratio_1_worker": round(one / raw[1], 3),
        "raw_sendsms_without_reports_per_s": round(bare, 1),
        "crash_messages": crash_count,
        "lost": crash["lost"],
        "duplicated": crash["duplicated"],
    }


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts (~1 min)")
    parser.add_argument("--postgres", help=f"PostgreSQL URL (or {POSTGRES_URL_VARIABLE})")
    parser.add_argument("--messages", type=int, help="messages in the crash run")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    import os

    arguments = parse_arguments(argv)
    postgres = arguments.postgres or os.environ.get(POSTGRES_URL_VARIABLE)
    with benchmark_environment("postgres" if postgres else "sqlite", postgres):
        os.environ["INVITEONLY_LOG_LEVEL"] = "WARNING"
        set_up_django()
        result = run(arguments)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
