"""A bounded, scripted attacker against the production server, on loopback.

Run from the repository root::

    python -m benchmarks.attack [--quick] [--postgres URL]

The benchmark makes a throwaway database (SQLite, or PostgreSQL with ``--postgres``),
switches registration to ``open`` (anyone with a phone number may join: the mode in
which SMS pumping through the join form is possible at all), gives the site a home
country with real traffic (Russia: 30,000 codes verified on one day last week, so its
caps are what a busy site's are), adds members, and starts ``inviteonly serve`` —
waitress, the delivery worker, the console gateway, the production settings and rate
limits — on 127.0.0.1. Then it attacks, from client sockets bound to 127.0.0.2 …
127.0.0.201 (never an address outside 127.0.0.0/8):

* **Brute force**: one join code is guessed until the server refuses every further
  guess. ``bruteforce_attempts_allowed``: guesses the server checked;
  ``bruteforce_successes``: guesses that joined (must be 0).
* **SMS pumping**: 1,000 numbers in 20 countries (not the home country), 5 from each
  of 200 addresses, 16 at a time. ``pumping_sms_sent``: SMS the site queued for them
  (read from the outbox table); ``pumping_sms_budget``: what the defence's own rules
  allow in the windows the attack touched — per country the unverified caps
  (``max(20, …)`` a day, ``max(3, daily/6)`` an hour), site-wide ``SMS_MAX_PER_HOUR``.
* **Enumeration**: recovery and join, for registered and unregistered home-country
  numbers (``--quick``: 20 of each per flow, else 60), alternating in random order,
  one at a time. ``enumeration_median_diff_ms``: the larger of the two flows'
  differences of median response time; ``enumeration_limit_ms`` is what
  it must stay under (5 ms or 5 % of the median, whichever is larger).
  ``enumeration_answers_identical``: same status and same body keys every time.
* **Refusals**: requests refused by the rate limiter (an address past its recovery
  limit) per second, against ``GET /api/site`` (a trivial view: one read) per second,
  both with 8 keep-alive clients: ``refusal_vs_trivial_ratio`` (target ≥ 0.5).
* **Limiter overhead**: the median time ``enforce_rate_limit`` adds to an allowed
  recovery request (its six rules), measured in this process against the server's
  database: ``limiter_overhead_ms`` (target < 1 ms); likewise
  ``sms_budget_overhead_ms`` for the SMS-pumping budget.

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from benchmarks._common import (
    Site,
    benchmark_environment,
    database_description,
    running_server,
    say,
    set_up_django,
)
from tests.kannel_fixture import free_port

ATTACKERS = [f"127.0.0.{host}" for host in range(2, 202)]
HOME = "RU"
PUMPING_REGIONS = ["US", "GB", "DE", "FR", "IT", "ES", "NL", "PL", "UA", "KZ",
                   "TR", "IN", "BR", "MX", "NG", "ID", "PH", "VN", "EG", "AR"]
PASSWORD = "a long enough passphrase"  # noqa: S105  (the visitors' password)


# ---------------------------------------------------------------------------
# Setting the stage (in this process, on the server's database)
# ---------------------------------------------------------------------------


def mobile_numbers(region: str, count: int, *, skip: int = 0) -> list[str]:
    """``count`` valid mobile numbers of ``region``, counting up from its example."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    accepted = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    assert example is not None, region
    found: list[str] = []
    candidate = example.national_number or 0
    while len(found) < count + skip:
        candidate += 1
        number = phonenumbers.PhoneNumber(
            country_code=example.country_code, national_number=candidate
        )
        if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in accepted:
            found.append(phonenumbers.format_number(number, PhoneNumberFormat.E164))
    return found[skip:]


def set_the_stage(registered: list[str]) -> None:
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from inviteonly.abuse.sms_budget import record_code_verified
    from inviteonly.accounts.models import Member
    from inviteonly.lib import clock, crypto
    from inviteonly.lib.phone_numbers import normalize_phone_number
    from inviteonly.site_config.actions import do_set_registration_mode
    from inviteonly.site_config.models import RegistrationMode

    do_set_registration_mode(actor=None, mode=RegistrationMode.OPEN)
    password_hash = make_password(PASSWORD)
    for e164 in registered:
        number = normalize_phone_number(e164)
        Member.objects.create(
            display_name="Member",
            phone_blind_index=crypto.blind_index(number.e164),
            phone_ciphertext=crypto.encrypt(number.e164, purpose=crypto.Purpose.PHONE_NUMBER),
            phone_masked=number.masked,
            password=password_hash,
        )
    # The home country's traffic: a day last week with 30,000 verified codes.
    last_week = timezone.now() - timedelta(days=6)
    clock.use_source(lambda: last_week)
    try:
        record_code_verified(HOME, count=30_000)
    finally:
        clock.use_source(None)


# ---------------------------------------------------------------------------
# The attacks
# ---------------------------------------------------------------------------


def join_body(phone: str) -> dict[str, str]:
    return {"phone": phone, "display_name": "Visitor", "password": PASSWORD, "language": "en"}


def brute_force(site: Site, *, guesses: int) -> dict[str, int]:
    """Start joining with one number, then guess its code until the server refuses
    every guess (or ``guesses`` run out), from addresses taken in turn."""
    phone = mobile_numbers(HOME, 1, skip=5000)[0]
    started = site.post("/join", join_body(phone), source=ATTACKERS[0])
    assert started.status == 202, started
    token = started.body["verification_token"]
    checked = successes = refused_in_a_row = 0
    first = secrets.randbelow(10**6)
    for index in range(guesses):
        code = f"{(first + index) % 10**6:06d}"
        answer = site.post(
            "/join/confirm",
            {"verification_token": token, "code": code},
            source=ATTACKERS[index % len(ATTACKERS)],
        )
        if answer.status == 201:
            successes += 1
            break
        # "Wrong" and "wrong, and now the code is dead" both mean the guess was checked.
        if answer.body["code"] in ("code_wrong", "code_exhausted"):
            checked += 1
            refused_in_a_row = 0
        else:
            refused_in_a_row += 1
            if refused_in_a_row >= 50:
                break
    return {"bruteforce_successes": successes,
            "bruteforce_attempts_allowed": checked,
            "bruteforce_guesses_sent": index + 1}


@dataclass(frozen=True)
class Pumping:
    started: float
    ended: float
    answers: dict[int, int]


def pump(site: Site, numbers: list[str]) -> Pumping:
    """Ask to join with every number, each address in turn, 16 requests at a time."""
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def attempt(index: int) -> None:
        answer = site.post(
            "/join", join_body(numbers[index]), source=ATTACKERS[index % len(ATTACKERS)]
        )
        with lock:
            answers[answer.status] = answers.get(answer.status, 0) + 1

    started = time.time()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(attempt, range(len(numbers))))
    return Pumping(started=started, ended=time.time(), answers=answers)


def pumping_budget(pumping: Pumping, regions: list[str]) -> int:
    """What the defence's rules allow the attacked countries in the windows touched."""
    from django.conf import settings

    from inviteonly.abuse.sms_budget import CountryCaps

    caps = CountryCaps.from_verified(0)  # the attacked countries have no verified codes
    hours = int(pumping.ended // 3600) - int(pumping.started // 3600) + 1
    days = int(pumping.ended // 86400) - int(pumping.started // 86400) + 1
    per_country = min(caps.hourly * hours, caps.daily * days)
    return min(per_country * len(regions), settings.SMS_MAX_PER_HOUR * hours)


def sms_queued_to(numbers: list[str], *, since: float) -> int:
    from datetime import UTC, datetime

    from inviteonly.lib import crypto
    from inviteonly.sms.models import OutboundSms, SmsStatus

    wanted = set(numbers)
    queued = OutboundSms.objects.filter(
        created_at__gte=datetime.fromtimestamp(since, tz=UTC)
    ).exclude(status=SmsStatus.SUPPRESSED)
    return sum(
        crypto.decrypt(row.recipient_ciphertext, purpose=crypto.Purpose.PHONE_NUMBER) in wanted
        for row in queued
    )


def enumeration(
    site: Site, *, registered: list[str], unregistered: list[str]
) -> dict[str, Any]:
    """Median response times of recovery and join, member's number vs stranger's."""
    flows: dict[str, Callable[[str], dict[str, str]]] = {
        "recovery": lambda phone: {"phone": phone},
        "join": join_body,
    }
    paths = {"recovery": "/recovery", "join": "/join"}
    figures: dict[str, Any] = {}
    identical = True
    worst_diff, limit = 0.0, 0.0
    sources = iter(ATTACKERS * 4)
    half = len(registered) // 2  # each flow its own numbers: a number has a cooldown
    for turn, (flow, body) in enumerate(flows.items()):
        times: dict[bool, list[float]] = {True: [], False: []}
        shapes: set[tuple[int, tuple[str, ...]]] = set()
        members = registered[turn * half:(turn + 1) * half]
        strangers = unregistered[turn * half:(turn + 1) * half]
        for member, stranger in zip(members, strangers, strict=True):
            pair = [(True, member), (False, stranger)]
            if secrets.randbelow(2):  # which goes first: no order effect on either side
                pair.reverse()
            for is_member, phone in pair:
                answer = site.post(paths[flow], body(phone), source=next(sources))
                times[is_member].append(answer.seconds)
                shapes.add((answer.status, tuple(sorted(answer.body))))
        identical = identical and len(shapes) == 1
        medians = {key: statistics.median(values) * 1000 for key, values in times.items()}
        diff = abs(medians[True] - medians[False])
        figures[f"{flow}_median_ms"] = round(statistics.median(
            times[True] + times[False]) * 1000, 2)
        figures[f"{flow}_median_diff_ms"] = round(diff, 2)
        figures[f"{flow}_member_vs_stranger_ms"] = [
            round(medians[True], 2), round(medians[False], 2)]
        figures[f"{flow}_statuses"] = sorted({status for status, _keys in shapes})
        if diff > worst_diff:
            worst_diff = diff
        limit = max(limit, 5.0, 0.05 * figures[f"{flow}_median_ms"])
    figures["enumeration_median_diff_ms"] = round(worst_diff, 2)
    figures["enumeration_limit_ms"] = round(limit, 2)
    figures["enumeration_answers_identical"] = identical
    return figures


def requests_per_second(
    site: Site, *, method: str, path: str, body: Any, source: str, seconds: float,
    expect: int, clients: int = 8,
) -> float:
    """Requests per second from ``clients`` keep-alive connections for ``seconds``."""
    counts = [0] * clients
    deadline = time.perf_counter() + seconds
    barrier = threading.Barrier(clients)

    def client(slot: int) -> None:
        connection = site.connect(source)
        barrier.wait()
        try:
            while time.perf_counter() < deadline:
                answer = site.send(connection, method, path, body)
                if answer.status != expect:
                    raise AssertionError(f"{method} {path} answered {answer.status}")
                counts[slot] += 1
        finally:
            connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return sum(counts) / (time.perf_counter() - started)


def refusal_throughput(site: Site, *, seconds: float) -> dict[str, float]:
    # One attacker address used up its recovery limit; everything after is refused.
    source = ATTACKERS[-1]
    victim = {"phone": mobile_numbers(HOME, 1, skip=6000)[0]}
    for _ in range(30):
        if site.post("/recovery", victim, source=source).status == 429:
            break
    refused = requests_per_second(site, method="POST", path="/recovery", body=victim,
                                  source=source, seconds=seconds, expect=429)
    trivial = requests_per_second(site, method="GET", path="/site", body=None,
                                  source=source, seconds=seconds, expect=200)
    return {"refused_per_s": round(refused, 1), "trivial_per_s": round(trivial, 1),
            "refusal_vs_trivial_ratio": round(refused / trivial, 3)}


def overheads(samples: int) -> dict[str, float]:
    """Median time of the limiter and of the SMS budget on allowed requests, measured
    in this process on the server's database (fresh address and number each time)."""
    from django.db import close_old_connections

    from inviteonly.abuse.actions import enforce_rate_limit
    from inviteonly.abuse.limiter import Subject
    from inviteonly.abuse.sms_budget import sms_budget
    from inviteonly.lib.phone_numbers import normalize_phone_number

    numbers = [normalize_phone_number(e164)
               for e164 in mobile_numbers(HOME, samples, skip=7000)]
    limiter, budget = [], []
    for index, number in enumerate(numbers):
        address = f"127.1.{index // 256}.{index % 256}"
        started = time.perf_counter()
        enforce_rate_limit(["recover", "send_code"], Subject(ip=address, number=number.e164))
        limiter.append(time.perf_counter() - started)
        started = time.perf_counter()
        with sms_budget(number=number, ip_address=address, code=True):
            pass
        budget.append(time.perf_counter() - started)
    close_old_connections()
    return {"limiter_overhead_ms": round(statistics.median(limiter) * 1000, 3),
            "sms_budget_overhead_ms": round(statistics.median(budget) * 1000, 3)}


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter phases")
    parser.add_argument("--postgres", metavar="URL", help="attack a PostgreSQL database")
    args = parser.parse_args()
    samples = 20 if args.quick else 60
    seconds = 3.0 if args.quick else 10.0
    port = free_port()
    database = "postgres" if args.postgres else "sqlite"
    with benchmark_environment(database, args.postgres):
        # The attacker meets the production breaker (benchmark_environment lifts it).
        os.environ.pop("INVITEONLY_SMS_MAX_PER_HOUR")
        os.environ.update({
            "INVITEONLY_SMS_GATEWAY": "console",
            "INVITEONLY_ALLOWED_HOSTS": "127.0.0.1",
            "INVITEONLY_BASE_URL": f"http://127.0.0.1:{port}",
        })
        set_up_django()
        from django.conf import settings

        home = mobile_numbers(HOME, 4 * samples)
        registered, unregistered = home[:2 * samples], home[2 * samples:]
        pumping_numbers = [
            number
            for group in zip(*(mobile_numbers(region, 50) for region in PUMPING_REGIONS),
                             strict=True)
            for number in group
        ]
        set_the_stage(registered)
        say(f"database: {database_description()}; server: waitress on 127.0.0.1:{port}; "
            f"attackers: {ATTACKERS[0]} … {ATTACKERS[-1]}")
        results: dict[str, Any] = {"database": database}
        with running_server(port) as site:
            results.update(brute_force(site, guesses=200 if args.quick else 1000))
            say(f"brute force: {results['bruteforce_attempts_allowed']} guesses checked, "
                f"{results['bruteforce_successes']} succeeded, "
                f"{results['bruteforce_guesses_sent']} sent")
            pumping = pump(site, pumping_numbers)
            results["pumping_requests"] = len(pumping_numbers)
            results["pumping_answers"] = {str(k): v for k, v in sorted(pumping.answers.items())}
            results["pumping_sms_sent"] = sms_queued_to(pumping_numbers, since=pumping.started)
            results["pumping_sms_budget"] = pumping_budget(pumping, PUMPING_REGIONS)
            say(f"pumping: {len(pumping_numbers)} numbers in {len(PUMPING_REGIONS)} countries "
                f"from {len(ATTACKERS)} addresses: answers {results['pumping_answers']}; "
                f"{results['pumping_sms_sent']} SMS queued, budget "
                f"{results['pumping_sms_budget']}")
            results.update(enumeration(site, registered=registered, unregistered=unregistered))
            say(f"enumeration: recovery {results['recovery_median_ms']} ms "
                f"(diff {results['recovery_median_diff_ms']}), join "
                f"{results['join_median_ms']} ms (diff {results['join_median_diff_ms']}); "
                f"limit {results['enumeration_limit_ms']} ms")
            results.update(refusal_throughput(site, seconds=seconds))
            say(f"refused {results['refused_per_s']}/s vs trivial {results['trivial_per_s']}/s")
        results.update(overheads(samples * 5))
        results["sms_max_per_hour"] = settings.SMS_MAX_PER_HOUR
    print(json.dumps(results, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
