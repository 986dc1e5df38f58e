"""Wall and inbox reads against the production server, next to a trivial view.

    python -m benchmarks.social_reads [--quick] [--postgres URL]

Loads members, friendships, wall posts and private messages in bulk (COPY on
PostgreSQL, executemany on SQLite) into a throwaway database, starts ``inviteonly
serve`` (waitress) on loopback and drives 32 concurrent keep-alive clients, each
logged in as a different member (sessions created in bulk), through three phases:

* **trivial**: ``GET /api/site`` (one read), before and after the others;
* **wall**: ``GET /api/members/{id}/wall`` (a page of 20 posts with their authors);
* **inbox**: ``GET /api/conversations?limit=20`` (conversations with unread counts and
  last messages).

Full size: 100,000 members, 1,000,000 wall posts, 1,000,000 messages; ``--quick``:
10,000 members, 100,000 of each. Friendships are the SNAP ego-Facebook graph (4,039
people, 88,234 friendships) tiled over the members. The members whose pages are read
get a tenth of the posts and 30 conversations each, so every read is a full page.

The last line is one JSON object: ``wall_rps``, ``inbox_rps``, ``trivial_rps`` (the
mean of both trivial phases), ``*_p99_ms`` and ``ratio`` (the smaller of wall and inbox
over trivial; target ≥ 0.5), with the sizes, the load time, and the machine's load
average before the phases (it may be shared).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks._common import (
    REPO_ROOT,
    benchmark_environment,
    database_description,
    running_server,
    say,
    set_up_django,
)
from tests.kannel_fixture import free_port

EDGES_FILE = REPO_ROOT.parent / "shared" / "data" / "ego-facebook-edges.txt"
CLIENTS = 32
READERS = 64
CONVERSATIONS_PER_READER = 30
PAGE = 20
TEXT = ("Just back from the dacha: the apples are ripe, the bees are busy, and the "
        "neighbours' dog still thinks I am a burglar.")


# ---------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------


def read_edges(path: Path) -> tuple[int, list[tuple[int, int]]]:
    edges = []
    nodes = 0
    for line in path.read_text().splitlines():
        if line.strip():
            first, second = (int(part) for part in line.split())
            edges.append((first, second))
            nodes = max(nodes, first + 1, second + 1)
    return nodes, edges


class Graph:
    """The ego-Facebook graph tiled over ``members`` (ids 1..members)."""

    def __init__(self, members: int, path: Path) -> None:
        self.members = members
        self.size, self.edges = read_edges(path)
        self.adjacent: list[list[int]] = [[] for _ in range(self.size)]
        for first, second in self.edges:
            self.adjacent[first].append(second)
            self.adjacent[second].append(first)

    def friendships(self) -> Iterator[tuple[int, int]]:
        """Both directions of every tiled edge, as member ids."""
        for offset in range(0, self.members, self.size):
            for first, second in self.edges:
                a, b = offset + first + 1, offset + second + 1
                if a <= self.members and b <= self.members:
                    yield a, b
                    yield b, a

    def friends_of(self, member_id: int) -> list[int]:
        index = member_id - 1
        offset = index - index % self.size
        return [offset + friend + 1 for friend in self.adjacent[index % self.size]
                if offset + friend + 1 <= self.members]


class Loader:
    """Rows into tables: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self) -> None:
        from django.db import connection

        self.connection = connection
        self.postgres = connection.vendor == "postgresql"
        self.base = datetime.now(UTC) - timedelta(days=400)

    def stamp(self, seconds: float) -> Any:
        moment = self.base + timedelta(seconds=seconds)
        if self.postgres:
            return moment
        return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        count = 0
        with self.connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
            else:
                placeholders = ", ".join("?" * len(columns))
                statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
                chunk: list[Sequence[Any]] = []
                for row in rows:
                    chunk.append(row)
                    if len(chunk) == 50_000:
                        cursor.executemany(statement, chunk)
                        count += len(chunk)
                        chunk = []
                cursor.executemany(statement, chunk)
                count += len(chunk)
        return count

    def reset_sequences(self, tables: Sequence[str]) -> None:
        if not self.postgres:
            return
        with self.connection.cursor() as cursor:
            for table in tables:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )

    def analyze(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def load_everything(*, members: int, posts: int, messages: int, seed: int) -> dict[str, int]:
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from inviteonly.lib import tree_paths

    chance = random.Random(seed)
    graph = Graph(members, EDGES_FILE)
    loader = Loader()
    password = make_password("not used: sessions are made directly")
    readers = range(1, READERS + 1)
    counts: dict[str, int] = {}
    with transaction.atomic():
        counts["members"] = loader.load(
            "accounts_member",
            ["id", "password", "is_superuser", "display_name", "phone_blind_index",
             "phone_ciphertext", "phone_masked", "language", "role", "status",
             "joined_at", "is_staff", "tree_path", "tree_path_overflow",
             "hidden_from_public_tree"],
            # Every member a root of the invitation tree: its path is its own id.
            ((n, password, False, f"Member {n}", f"bench-{n:09d}", b"", "+7 916 ***-**-00",
              "en", "member", "active", loader.stamp(n / 1000), False,
              tree_paths.child_path(b"", n), b"", False)
             for n in range(1, members + 1)),
        )
        counts["friendships"] = loader.load(
            "social_friendship", ["member_id", "friend_id", "created_at"],
            ((a, b, loader.stamp(10**6)) for a, b in graph.friendships()),
        )

        def wall_rows() -> Iterator[tuple[Any, ...]]:
            for n in range(1, posts + 1):
                owner = (chance.choice(readers) if chance.random() < 0.1
                         else chance.randint(1, members))
                friends = graph.friends_of(owner)
                author = chance.choice(friends) if friends and chance.random() < 0.5 else owner
                yield n, owner, author, f"{n}. {TEXT}", loader.stamp(2 * 10**6 + n)

        counts["wall_posts"] = loader.load(
            "social_wallpost", ["id", "wall_owner_id", "author_id", "text", "created_at"],
            wall_rows(),
        )

        # Conversations: every reader has 30; the rest between random friends.
        pairs: list[tuple[int, int]] = []
        seen: set[tuple[int, int]] = set()
        wanted = max(messages // 5, READERS * CONVERSATIONS_PER_READER)
        while len(pairs) < wanted:
            first = (readers[len(pairs) // CONVERSATIONS_PER_READER]
                     if len(pairs) < READERS * CONVERSATIONS_PER_READER
                     else chance.randint(1, members))
            friends = graph.friends_of(first)
            # Mostly friends; strangers too (and a way out for members with few friends).
            second = (chance.choice(friends) if friends and chance.random() < 0.7
                      else chance.randint(1, members))
            key = (min(first, second), max(first, second))
            if first != second and key not in seen:
                seen.add(key)
                pairs.append((first, second))
        counts["conversations"] = loader.load(
            "social_conversation", ["id", "created_at"],
            ((k + 1, loader.stamp(3 * 10**6)) for k in range(len(pairs))),
        )
        # Each conversation gets one message, the rest go anywhere.
        conversation_of = list(range(len(pairs))) + [
            chance.randrange(len(pairs)) for _ in range(max(0, messages - len(pairs)))]
        chance.shuffle(conversation_of)
        last: dict[int, tuple[int, int]] = {}  # conversation → (message id, sender)

        def message_rows() -> Iterator[tuple[Any, ...]]:
            for index, conversation in enumerate(conversation_of):
                message_id = index + 1
                sender = pairs[conversation][chance.randrange(2)]
                last[conversation] = (message_id, sender)
                yield (message_id, conversation + 1, sender, f"{message_id}. {TEXT}",
                       loader.stamp(4 * 10**6 + message_id))

        counts["messages"] = loader.load(
            "social_message", ["id", "conversation_id", "sender_id", "text", "created_at"],
            message_rows(),
        )

        def participant_rows() -> Iterator[tuple[Any, ...]]:
            for conversation, (first, second) in enumerate(pairs):
                message_id, sender = last[conversation]
                for member, other in ((first, second), (second, first)):
                    unread = 0 if sender == member else chance.randint(0, 3)
                    yield (conversation + 1, member, other, message_id,
                           loader.stamp(4 * 10**6 + message_id), unread,
                           0 if unread else message_id)

        counts["participants"] = loader.load(
            "social_participant",
            ["conversation_id", "member_id", "other_id", "last_message_id", "last_message_at",
             "unread_count", "last_read_message_id"],
            participant_rows(),
        )
    loader.reset_sequences(["accounts_member", "social_wallpost", "social_conversation",
                            "social_message"])
    loader.analyze()
    return counts


def bulk_sessions(member_ids: Sequence[int]) -> list[str]:
    """One API session per member, made directly (no password hash per login)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.db import close_old_connections

    from inviteonly.accounts.models import Member
    from inviteonly.accounts.sessions import SessionStore

    tokens = []
    for member in Member.objects.filter(id__in=member_ids).order_by("id"):
        session = SessionStore()
        session[SESSION_KEY] = str(member.id)
        session[BACKEND_SESSION_KEY] = "inviteonly.accounts.backends.PhonePasswordBackend"
        session[HASH_SESSION_KEY] = member.get_session_auth_hash()
        session.create()
        assert session.session_key is not None
        tokens.append(session.session_key)
    close_old_connections()
    return tokens


# ---------------------------------------------------------------------------
# The clients
# ---------------------------------------------------------------------------


def get(connection: http.client.HTTPConnection, path: str, token: str | None) -> tuple[
        int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


def drive(
    port: int, seconds: float, request_for: Callable[[int, int], tuple[str, str | None]]
) -> tuple[float, list[float]]:
    """``CLIENTS`` keep-alive connections asking ``request_for(client, n)`` for
    ``seconds``; requests per second and every latency (seconds)."""
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS + 1)
    stop = threading.Event()
    failures: list[str] = []

    def client(slot: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        barrier.wait()
        count = 0
        try:
            while not stop.is_set():
                path, token = request_for(slot, count)
                started = time.perf_counter()
                status, body = get(connection, path, token)
                latencies[slot].append(time.perf_counter() - started)
                if status != 200:
                    failures.append(f"GET {path} answered {status}: {body[:200]!r}")
                    return
                count += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(CLIENTS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise AssertionError(failures[0])
    everything = [latency for per_client in latencies for latency in per_client]
    return len(everything) / elapsed, everything


def p99_ms(latencies: list[float]) -> float:
    return round(statistics.quantiles(latencies, n=100)[98] * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="10,000 members and 100,000 posts and messages; short phases")
    parser.add_argument("--postgres", metavar="URL", help="load and serve from PostgreSQL")
    parser.add_argument("--seconds", type=float, help="length of each phase")
    args = parser.parse_args()
    members, posts, messages = (10_000, 100_000, 100_000) if args.quick else (
        100_000, 1_000_000, 1_000_000)
    seconds = args.seconds or (5.0 if args.quick else 15.0)
    database = "postgres" if args.postgres else "sqlite"
    # The throwaway database is named after the one in the URL (wt6 → wt6_social_…).
    prefix = (urlsplit(args.postgres).path.strip("/") or "inviteonly") + "_social_bench" if (
        args.postgres) else "inviteonly_bench"
    port = free_port()
    with benchmark_environment(database, args.postgres, name_prefix=prefix):
        os.environ.update({
            "INVITEONLY_ALLOWED_HOSTS": "127.0.0.1",
            "INVITEONLY_BASE_URL": f"http://127.0.0.1:{port}",
        })
        set_up_django()
        say(f"database: {database_description()}; loading {members:,} members, "
            f"{posts:,} wall posts, {messages:,} messages …")
        started = time.perf_counter()
        counts = load_everything(members=members, posts=posts, messages=messages, seed=2011)
        load_seconds = time.perf_counter() - started
        say(f"loaded in {load_seconds:.1f} s: " + ", ".join(
            f"{count:,} {name}" for name, count in counts.items()))
        tokens = bulk_sessions(range(1, READERS + 1))
        results: dict[str, Any] = {"database": database, **counts,
                                   "load_seconds": round(load_seconds, 1),
                                   "clients": CLIENTS}
        load_before = os.getloadavg()[0]
        with running_server(port) as _site:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            status, body = get(probe, "/api/members/1/wall", tokens[0])
            wall_page = json.loads(body)
            status_inbox, inbox_body = get(probe, "/api/conversations?limit=20", tokens[0])
            probe.close()
            assert status == 200 and len(wall_page["posts"]) == PAGE, body[:300]
            assert status_inbox == 200 and len(json.loads(inbox_body)["items"]) == PAGE

            def trivial(slot: int, n: int) -> tuple[str, str | None]:
                return "/api/site", None

            def wall(slot: int, n: int) -> tuple[str, str | None]:
                owner = (slot * 7 + n) % READERS + 1
                return f"/api/members/{owner}/wall", tokens[slot]

            def inbox(slot: int, n: int) -> tuple[str, str | None]:
                return "/api/conversations?limit=20", tokens[(slot + CLIENTS * (n % 2))
                                                            % READERS]

            drive(port, 1.0, wall)  # warm up: connections, caches, the page cache
            phases: dict[str, list[tuple[float, list[float]]]] = {
                "trivial": [], "wall": [], "inbox": []}
            for name, request_for in (("trivial", trivial), ("wall", wall),
                                      ("inbox", inbox), ("trivial", trivial)):
                rate, latencies = drive(port, seconds, request_for)
                phases[name].append((rate, latencies))
                say(f"{name}: {rate:.1f} requests/s, p99 {p99_ms(latencies)} ms")
        for name, runs in phases.items():
            results[f"{name}_rps"] = round(statistics.mean(rate for rate, _ in runs), 1)
            results[f"{name}_p99_ms"] = p99_ms([x for _, latencies in runs for x in latencies])
        results["trivial_rps_runs"] = [round(rate, 1) for rate, _ in phases["trivial"]]
        results["ratio"] = round(
            min(results["wall_rps"], results["inbox_rps"]) / results["trivial_rps"], 3)
        # The machine may be shared: its load before the phases and the CPUs it has.
        results["load_average_before"] = round(load_before, 2)
        results["cpus"] = os.cpu_count()
    print(json.dumps(results, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
