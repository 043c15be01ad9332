"""The peers section: run in a child process of ``benchmarks/run.py`` (``python -m
benchmarks.peers.bench [--quick]``, ``DJANGO_SETTINGS_MODULE=benchmarks.peers.settings``); prints
its results as JSON on its last line.

One gunicorn (2 sync workers) serves the peers' project on PostgreSQL against one loopback
stand-in that plays NXCloud (a checkCode with the code 000000 is refused with 9001, any other
accepted) and takes allauth's SMS. Each round (shuffled order) runs, for a few seconds each, the
code-entry page (GET), a wrong code (POST) and a right code (POST) for this app, allauth (a
signed-in user's phone change, verified by code) and the hand-written view, and the trivial view
with both load generators (the light one and ``requests``, as benchmarks/load.py uses). CPU per
request: the gunicorn workers' and the PostgreSQL backends' user + system time from
``/proc/<pid>/stat`` (pg_stat_statements is not assumed), over the phase, divided by its requests.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
THREADS = 8
WORKERS = 2
SUBJECTS = ("this app", "allauth", "hand-written")
KINDS = ("code-entry page (GET)", "wrong code (POST)", "right code (POST)")
TRIVIAL = ("trivial view", "light client")
TRIVIAL_REQUESTS = ("trivial view", "requests client")
WRONG, RIGHT = "000000", "123456"
#: Wrong codes a registration of this app takes in the run (MAX_CHECK_ATTEMPTS' default is 5).
WRONG_PER_CODE = 4
TICK = os.sysconf("SC_CLK_TCK")


# -- CPU from /proc --------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, user + system ticks) of ``pid``, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat and stat[0] == parent:
                found.append(int(entry))
    return found


class CPU:
    """The gunicorn workers' and the bench database's PostgreSQL backends' CPU ticks."""

    def __init__(self, db_name: str) -> None:
        self.db_name = db_name
        masters = [
            pid for pid in _children(os.getpid()) if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        self.workers = [pid for master in masters for pid in _children(master)]

    def backends(self) -> list[int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.db_name],
            )
            return [row[0] for row in cursor.fetchall()]

    def sample(self) -> dict[str, dict[int, int]]:
        def ticks(pids: list[int]) -> dict[int, int]:
            return {pid: stat[1] for pid in pids if (stat := _stat(pid))}

        return {"workers": ticks(self.workers), "postgres": ticks(self.backends())}

    @staticmethod
    def spent_ms(before: dict[str, dict[int, int]], after: dict[str, dict[int, int]]) -> dict[str, float]:
        """Milliseconds of CPU between two samples (a backend new since ``before`` counts whole)."""
        return {
            side: sum(t - before[side].get(pid, 0) for pid, t in after[side].items()) * 1000 / TICK
            for side in after
        }


# -- the stand-in and the server ---------------------------------------------------------------------


def serve_loopback() -> None:
    """Child process: the loopback NXCloud (and allauth's SMS gateway) until terminated."""
    from harness.loopback import Behaviour, LoopbackNXCloud, Received, result

    def decide(received: Received) -> Behaviour | None:
        if received.path.endswith("/checkCode"):
            try:
                sent = json.loads(received.body)
            except ValueError:
                return None
            if isinstance(sent, dict) and sent.get("code") == WRONG:
                return result(9001, "verification code error")
        return None

    with LoopbackNXCloud() as server:
        server.on_request = decide
        print(server.base_url, flush=True)
        while True:
            time.sleep(3600)


@contextmanager
def served(db_name: str) -> Iterator[str]:
    from harness.processes import gunicorn, stop

    loopback = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.peers.bench", "--serve-loopback"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert loopback.stdout is not None
        env = {
            "DJANGO_SETTINGS_MODULE": "benchmarks.peers.settings",
            "NXWA_BENCH_DB_NAME": db_name,
            # An accepted check enqueues the client's creation (one INSERT) instead of calling
            # createClient in the request: one outside call per submission, as the peers make.
            "NXWA_BENCH_TASKS": "db",
            # harness.processes' own ROOT is one folder too high since harness/ left tests/.
            "PYTHONPATH": str(ROOT),
            "NXWA_BENCH_BASE_URL": loopback.stdout.readline().strip(),
        }
        app = "benchmarks.peers.wsgi:application"
        with (
            tempfile.TemporaryFile() as log,
            gunicorn(app, env, log, workers=WORKERS, ready_path="/bench/trivial/") as base,
        ):
            yield base
    finally:
        stop(loopback)


# -- who is signed in ------------------------------------------------------------------------------


def session_cookies(user: Any) -> dict[str, str]:
    """A signed-in session for ``user``, made in the database (no login request)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.utils.crypto import get_random_string

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return {settings.SESSION_COOKIE_NAME: str(store.session_key), "csrftoken": get_random_string(32)}


class Numbers:
    """Never repeated mobile numbers (86139 + 8 digits; other sections use 86134 to 86138)."""

    def __init__(self) -> None:
        self.next = 0
        self.lock = threading.Lock()

    def __call__(self) -> str:
        with self.lock:
            self.next += 1
            return f"86139{self.next:08d}"


def in_parallel(items: list[Any], action: Callable[[Any], None], threads: int = THREADS) -> None:
    """``action`` on each item, on ``threads`` threads (each closes its database connection)."""
    from django.db import connection

    def work(chunk: list[Any]) -> None:
        try:
            for item in chunk:
                action(item)
        finally:
            connection.close()

    chunks = [items[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()


# -- the run ---------------------------------------------------------------------------------------------


def bench_peers(*, quick: bool, db_name: str) -> dict[str, Any]:
    import requests
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    from benchmarks.load import Phase, with_code_sent
    from benchmarks.load import run_phase as run_requests_phase
    from benchmarks.peers.client import Client, Tally, run_phase
    from benchmarks.peers.models import HandAttempt
    from nxwa_onboarding.models import VerificationAttempt

    rounds, seconds = (3, 2.0) if quick else (5, 8.0)
    users = get_user_model().objects
    ours_users = [users.create_user(f"peers-ours-{i}") for i in range(THREADS)]
    allauth_users = [users.create_user(f"peers-allauth-{i}") for i in range(THREADS)]
    hand_users = [users.create_user(f"peers-hand-{i}") for i in range(THREADS)]
    numbers = Numbers()
    cells = [(s, k) for s in SUBJECTS for k in KINDS] + [TRIVIAL, TRIVIAL_REQUESTS]
    rps: dict[tuple[str, str], list[float]] = {cell: [] for cell in cells}
    cpu: dict[tuple[str, str], list[dict[str, float]]] = {cell: [] for cell in cells}
    statuses: dict[tuple[str, str], dict[int, int]] = {cell: {} for cell in cells}
    exhausted: list[str] = []
    pool_size = int(seconds * 250)
    rng = random.Random(25)

    with served(db_name) as base:
        meter = CPU(db_name)

        def allauth_pending(user: Any) -> Client:
            client = Client(base, session_cookies(user))
            status = client.post(reverse("account_change_phone"), {"phone": "+" + numbers()})
            assert status == 302, f"allauth's phone change answered {status}"
            return client

        def play(round_no: int, pool_size: int) -> int:
            """One round, every cell in a shuffled order; returns the next round's pool size."""
            # Fresh state for the round: per thread, one page to show and take wrong codes, and a
            # pool of pending verifications for the right codes.
            mine = with_code_sent(ours_users, [numbers() for _ in range(THREADS)])
            per_thread = max(pool_size // THREADS, 1)
            # Wrong codes: each registration takes WRONG_PER_CODE of them, under the per-code
            # limit (MAX_CHECK_ATTEMPTS, at its default), so every one is checked with NXCloud.
            ours_wrong_pool = [
                with_code_sent([user], [numbers() for _ in range(per_thread // WRONG_PER_CODE + 2)])
                for user in ours_users
            ]
            wrong_sent = [0] * THREADS
            ours_clients = [Client(base, session_cookies(user)) for user in ours_users]
            ours_pool = [
                with_code_sent([user], [numbers() for _ in range(per_thread)]) for user in ours_users
            ]
            allauth_clients = [allauth_pending(user) for user in allauth_users]
            allauth_pool: list[list[Client]] = [[] for _ in range(THREADS)]

            def pend(index: int) -> None:
                allauth_pool[index].append(allauth_pending(allauth_users[index]))

            in_parallel([i for i in range(THREADS) for _ in range(per_thread)], pend)
            hand_clients = [Client(base, session_cookies(user)) for user in hand_users]
            hand_phones = [numbers() for _ in range(THREADS)]
            light = [Client(base) for _ in range(THREADS)]
            heavy = [requests.Session() for _ in range(THREADS)]

            def check_url(registration: Any) -> str:
                return reverse("nxwa_onboarding:check", kwargs={"public_id": registration.public_id})

            def ours_right(i: int) -> int | None:
                if not ours_pool[i]:
                    return None
                registration = ours_pool[i].pop()
                return ours_clients[i].post(check_url(registration), {"code": "123 456"})

            def ours_wrong(i: int) -> int | None:
                which = wrong_sent[i] // WRONG_PER_CODE
                if which >= len(ours_wrong_pool[i]):
                    return None
                wrong_sent[i] += 1
                return ours_clients[i].post(check_url(ours_wrong_pool[i][which]), {"code": "000 000"})

            def allauth_right(i: int) -> int | None:
                if not allauth_pool[i]:
                    return None
                return allauth_pool[i].pop().post(verify, {"action": "verify", "code": RIGHT})

            def hand_post(code: str) -> Callable[[int], int]:
                def post(i: int) -> int:
                    return hand_clients[i].post(f"/peers/hand/{hand_phones[i]}/", {"code": code})

                return post

            verify = reverse("account_verify_phone")
            requests_by_cell: dict[tuple[str, str], Callable[[int], int | None]] = {
                ("this app", KINDS[0]): lambda i: ours_clients[i].get(mine[i].get_absolute_url()),
                ("this app", KINDS[1]): ours_wrong,
                ("this app", KINDS[2]): ours_right,
                ("allauth", KINDS[0]): lambda i: allauth_clients[i].get(verify),
                ("allauth", KINDS[1]): lambda i: allauth_clients[i].post(
                    verify, {"action": "verify", "code": WRONG}
                ),
                ("allauth", KINDS[2]): allauth_right,
                ("hand-written", KINDS[0]): lambda i: hand_clients[i].get(f"/peers/hand/{hand_phones[i]}/"),
                ("hand-written", KINDS[1]): hand_post(WRONG),
                ("hand-written", KINDS[2]): hand_post(RIGHT),
                TRIVIAL: lambda i: light[i].get("/bench/trivial/"),
            }
            order = list(cells)
            rng.shuffle(order)
            for cell in order:
                before = meter.sample()
                if cell == TRIVIAL_REQUESTS:
                    phase = Phase("trivial")
                    run_requests_phase(
                        phase,
                        heavy,
                        seconds,
                        lambda session, i: session.get(base + "/bench/trivial/", timeout=30),
                    )
                    tally = Tally(count=len(phase.samples), statuses=phase.statuses, elapsed=phase.elapsed)
                else:
                    tally = run_phase(THREADS, seconds, requests_by_cell[cell])
                spent = CPU.spent_ms(before, meter.sample())
                rps[cell].append(tally.rps)
                cpu[cell].append({side: ms / max(tally.count, 1) for side, ms in spent.items()})
                for status, n in tally.statuses.items():
                    statuses[cell][status] = statuses[cell].get(status, 0) + n
                if tally.exhausted:
                    exhausted.append(f"{cell[0]} {cell[1]} (round {round_no + 1})")
            for client in [*ours_clients, *allauth_clients, *hand_clients, *light]:
                client.close()
            for pool in allauth_pool:
                for client in pool:
                    client.close()
            # Size the next round's pools from what this one managed (and a margin).
            best = max(rps[("this app", KINDS[2])][-1], rps[("allauth", KINDS[2])][-1])
            return max(pool_size, int(best * seconds * 1.3) + THREADS)

        for round_no in range(rounds):
            pool_size = play(round_no, pool_size)

    def spread(values: list[float]) -> dict[str, float]:
        return {
            "median": round(statistics.median(values), 1),
            "min": round(min(values), 1),
            "max": round(max(values), 1),
        }

    rows: dict[str, Any] = {}
    for cell in cells:
        name = f"{cell[0]} / {cell[1]}"
        rows[name] = {
            "rps": spread(rps[cell]),
            "rounds": [round(v, 1) for v in rps[cell]],
            "workers_cpu_ms": round(statistics.median(c["workers"] for c in cpu[cell]), 2),
            "postgres_cpu_ms": round(statistics.median(c["postgres"] for c in cpu[cell]), 2),
            "statuses": {str(k): v for k, v in sorted(statuses[cell].items())},
        }
    ratios: dict[str, Any] = {}
    for kind in KINDS:
        ours = rps[("this app", kind)]
        for peer in SUBJECTS[1:]:
            # Per round (the same round's conditions), then the median and range of those.
            per_round = [a / b for a, b in zip(ours, rps[(peer, kind)], strict=True) if b]
            ours_cpu = [c["workers"] + c["postgres"] for c in cpu[("this app", kind)]]
            peer_cpu = [c["workers"] + c["postgres"] for c in cpu[(peer, kind)]]
            cpu_ratio = [a / b for a, b in zip(ours_cpu, peer_cpu, strict=True) if b]
            ratios[f"{kind} vs {peer}"] = {
                "rps_ratio": {k: round(v, 2) for k, v in spread_raw(per_round).items()},
                "cpu_ratio": round(statistics.median(cpu_ratio), 2) if cpu_ratio else None,
            }
    light_rps = statistics.median(rps[TRIVIAL])
    # Every POST answered (any status but a 5xx or the client's 599) is a submission that made its call.
    submissions = {
        subject: sum(
            n for kind in KINDS[1:] for status, n in statuses[(subject, kind)].items() if status < 500
        )
        for subject in ("this app", "hand-written")
    }
    return {
        "workers": WORKERS,
        "threads": THREADS,
        "rounds": rounds,
        "seconds": seconds,
        "cpu_source": "/proc/<pid>/stat (utime + stime) of the gunicorn workers and the database's backends",
        "rows": rows,
        "ratios": ratios,
        "client_ceiling": {
            "light_rps": round(light_rps, 1),
            "requests_rps": round(statistics.median(rps[TRIVIAL_REQUESTS]), 1),
        },
        "pools_exhausted": exhausted,
        "submissions": submissions,
        "attempt_rows": {
            "this app": VerificationAttempt.objects.filter(registration__owner__in=ours_users).count(),
            "hand-written": HandAttempt.objects.count(),
        },
        "outcomes": {
            "this app": dict(
                Counter(
                    VerificationAttempt.objects.filter(registration__owner__in=ours_users).values_list(
                        "outcome", flat=True
                    )
                )
            ),
            "hand-written": dict(Counter(HandAttempt.objects.values_list("outcome", flat=True))),
        },
    }


def spread_raw(values: list[float]) -> dict[str, float]:
    if not values:
        return {"median": 0.0, "min": 0.0, "max": 0.0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:] == ["--serve-loopback"]:
        import signal

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve_loopback()
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.peers.settings")
    from django.db import connection

    from benchmarks.common import setup_django, teardown_django

    vendor = setup_django()
    try:
        if vendor != "postgresql":
            result: dict[str, Any] = {"skipped": "needs PostgreSQL (make bench sets DATABASE_URL)"}
        else:
            result = bench_peers(quick="--quick" in sys.argv, db_name=str(connection.settings_dict["NAME"]))
    finally:
        teardown_django()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
