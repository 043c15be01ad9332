"""``make bench``, issue 13: merchants verifying at once on a small cluster, for each Tasks backend.

For the database backend (django-tasks-db, ``db_worker``) and then RQ (django-tasks-rq,
``rqworker default --with-scheduler --job-class django_tasks_rq.Job``, on Redis database 11 or
``NXWA_CLUSTER_REDIS_URL``), each on a fresh PostgreSQL database of its own, migrated:

- NXCloud: the app's sandbox (``nxwa_onboarding.sandbox``) served by its own gunicorn, register
  status 3 -> 4 -> 5 at 2 s and 5 s after createClient; every call is recorded in a table by
  who made it (``benchmarks.cluster.nxcloud``): the web instance or the worker whose BASE_URL it
  came through;
- the site: two gunicorn instances (separate processes on two ports, 2 sync workers each) and
  two worker processes, all on that one database;
- 200 merchants (``--quick``: 20), each a user, sign in and add a number through the start page
  (8 at a time: the site sends the code; the sandbox's inbox row gives it to the merchant), then
  all submit their code at the same moment (a barrier; half to each instance) and poll their
  page as its script does until registered (``benchmarks.cluster.merchants``).

Asserted (``benchmarks.cluster.counts``; the run exits 1 otherwise): exactly one createClient
per number (so exactly as many as merchants), every registration ``registered`` in the site and
its number at register_status 5 in the sandbox, one accepted attempt per registration and no
other attempt, one registration and one code request per number, one follow state, no 5xx and no
unanswered request, no createClient or phoneList from a web instance (the pages never call
NXCloud beyond the code), no failed task, no process gone before the end, no traceback in any
process's log while the run was under way (and none through the app's code while the processes
stop; the others are printed), and the follower's chain stopped once nothing was in progress.
Reported besides: phoneList calls (all by the workers' followers), the polls, and the seconds
from the barrier until every code submission had its answer, until the last createClient
(NXCloud's clock) and until every registration was ``registered``. Written to
``benchmarks/results/cluster.json``; the processes' logs to ``benchmarks/results/cluster-logs/``.
Every process is stopped and the database dropped on the way out, on failure too.

Usage: ``python benchmarks/cluster/run.py [--quick] [--backend db|rq] [--merchants N] [--timeout S]``
with ``DATABASE_URL`` on the PostgreSQL server (``make bench`` sets it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.cluster.settings"
os.environ["NXWA_CLUSTER_ROLE"] = "site"
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")

from benchmarks.cluster.counts import counts, failures, rows  # noqa: E402
from benchmarks.cluster.merchants import PASSWORD, Merchant, Tally, sign_up, verify_and_follow  # noqa: E402
from benchmarks.cluster.processes import Processes  # noqa: E402
from harness.processes import free_port  # noqa: E402

Row = dict[str, Any]
RESULTS_DIR = ROOT / "benchmarks" / "results"
WORKER_COMMANDS = {
    "db": ["db_worker", "--no-startup-delay", "--interval", "0.1"],
    "rq": ["rqworker", "default", "--with-scheduler", "--job-class", "django_tasks_rq.Job"],
}
SITES = 2
WORKERS = 2
SIGN_UP_THREADS = 8


# -- the databases ----------------------------------------------------------------------------


def database_name(backend: str) -> str:
    suffix = os.environ.get("NXWA_TEST_DB_SUFFIX", "")
    return f"nxwa_bench_{backend}_cluster" + (f"_{suffix}" if suffix else "")


def server_sql(statement: str) -> None:
    """One statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    import psycopg
    from django.db import connection

    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(statement.encode())


@contextmanager
def fresh_database(name: str, processes_env: dict[str, str]) -> Iterator[None]:
    """Create and migrate ``name``, point this process at it; dropped on the way out."""
    import subprocess

    from django.db import connection, connections

    server_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    server_sql(f'CREATE DATABASE "{name}"')
    try:
        env = {**os.environ, **processes_env, "NXWA_CLUSTER_ROLE": "nxcloud", "PYTHONPATH": str(ROOT)}
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "--noinput", "--skip-checks", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        connections.close_all()
        connection.settings_dict["NAME"] = name
        from benchmarks.cluster.nxcloud import CREATE_CALLS_TABLE

        with connection.cursor() as cursor:
            cursor.execute(CREATE_CALLS_TABLE)
        yield
    finally:
        connections.close_all()
        drop_database(name)


#: Databases this run could not drop (the server was unreachable for all of ``patience``).
UNDROPPED: list[str] = []


def drop_database(name: str, patience: float = 60) -> None:
    """Drop ``name``, waiting out a server that is restarting; noted in ``UNDROPPED`` if it
    stays unreachable (never raised: it would hide why the run stopped)."""
    import psycopg

    deadline = time.monotonic() + patience
    while True:
        try:
            server_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.OperationalError as err:
            if time.monotonic() > deadline:
                print(f"could not drop database {name} ({err}): drop it by hand", file=sys.stderr)
                UNDROPPED.append(name)
                return
            time.sleep(1)


# -- queues -----------------------------------------------------------------------------------


def empty_rq(*, scheduler_lock: bool = False) -> None:
    """Our queue and its registries, in our Redis database only; and, before the workers start,
    its scheduler lock: one left by a killed scheduler holds for its TTL, and RQ's workers try
    for it again only every maintenance interval (10 minutes), so the follower's delayed steps
    would wait that long."""
    import django_rq
    from rq.scheduler import RQScheduler

    queue = django_rq.get_queue("default")
    if scheduler_lock:
        queue.connection.delete(RQScheduler.get_locking_key(queue.name))
    queue.empty()  # type: ignore[no-untyped-call]
    for registry in (
        queue.scheduled_job_registry,
        queue.failed_job_registry,
        queue.finished_job_registry,
        queue.started_job_registry,
        queue.deferred_job_registry,
        queue.canceled_job_registry,
    ):
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)


def wait_for_rq_workers(names: list[str], seconds: float = 60) -> None:
    """Until RQ lists a live worker by each of ``names`` (a dead run's workers linger there) and
    one of them holds the scheduler lock."""
    import django_rq
    from rq import Worker
    from rq.scheduler import RQScheduler

    redis = django_rq.get_connection("default")
    deadline = time.monotonic() + seconds
    while not set(names) <= {worker.name for worker in Worker.all(connection=redis)} or not redis.exists(
        RQScheduler.get_locking_key("default")  # one of them runs the scheduler
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(f"RQ workers {names} (one with the scheduler) not up after {seconds} s")
        time.sleep(0.2)


# -- one backend --------------------------------------------------------------------------------


def make_merchants(count: int, sites: list[str]) -> list[Merchant]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    password = make_password(PASSWORD)
    merchants = [
        Merchant(index=i, base=sites[i % len(sites)], username=f"merchant-{i:04d}", phone=f"+86 139 {i:08d}")
        for i in range(count)
    ]
    get_user_model().objects.bulk_create(
        get_user_model()(username=m.username, password=password) for m in merchants
    )
    return merchants


def hand_out_codes(merchants: list[Merchant]) -> None:
    """Each merchant's latest code, from the sandbox's inbox (its stand-in for the phone)."""
    found = dict(
        rows(
            "SELECT DISTINCT ON (phone_number) phone_number, code FROM nxwa_sandbox_sandboxmessage"
            " ORDER BY phone_number, id DESC"
        )
    )
    for merchant in merchants:
        digits = "".join(ch for ch in merchant.phone if ch.isdigit())
        merchant.code = str(found.get(digits, "000000"))


def wait_for_registered(count: int, started: float, deadline: float) -> float | None:
    """Seconds from ``started`` until ``count`` registrations are registered, or None (timed out)."""
    from nxwa_onboarding.models import PhoneRegistration

    while time.monotonic() < deadline:
        if PhoneRegistration.objects.filter(status="registered").count() >= count:
            return round(time.monotonic() - started, 2)
        time.sleep(0.2)
    return None


def wait_for_chain_to_stop(seconds: float = 15) -> bool:
    from nxwa_onboarding.models import FollowState

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not FollowState.objects.exclude(chain="").exists():
            return True
        time.sleep(0.2)
    return False


def run_backend(backend: str, count: int, timeout: float, log_dir: Path) -> Row:
    began = time.monotonic()
    name = database_name(backend)
    nxcloud_port = free_port()
    common = {"NXWA_BENCH_DB_NAME": name, "NXWA_CLUSTER_BACKEND": backend}
    result: Row = {"backend": backend, "merchants": count, "database": name}
    with fresh_database(name, common), Processes(log_dir / backend) as processes:
        result["database_s"] = round(time.monotonic() - began, 1)
        if backend == "rq":
            empty_rq(scheduler_lock=True)
        try:
            result.update(measure(backend, count, timeout, processes, nxcloud_port, common))
        finally:
            processes.stop_all()
            if backend == "rq":
                empty_rq()  # whatever the run left: our queue, its registries
        result["exited_early"] = {
            p.name: p.exited_early for p in processes.started if p.exited_early is not None
        }
        result["tracebacks"] = {p.name: p.tracebacks() for p in processes.started if p.tracebacks()}
        result["tracebacks_stopping"] = {
            p.name: p.tracebacks(stopping=True) for p in processes.started if p.tracebacks(stopping=True)
        }
    result["elapsed_s"] = round(time.monotonic() - began, 1)
    result["failures"] = failures(result)
    return result


def measure(
    backend: str, count: int, timeout: float, processes: Processes, nxcloud_port: int, common: dict[str, str]
) -> Row:
    began = time.monotonic()
    sites = start_cluster(backend, processes, nxcloud_port, common)
    result: Row = {"setup_s": round(time.monotonic() - began, 1)}
    result.update(merchants_at_once(count, timeout, sites))
    result["chain_stopped"] = wait_for_chain_to_stop()
    result.update(counts(backend))
    return result


def start_cluster(backend: str, processes: Processes, nxcloud_port: int, common: dict[str, str]) -> list[str]:
    """NXCloud, the workers and the web instances, each up; the instances' base URLs."""
    nxcloud = f"http://127.0.0.1:{nxcloud_port}"
    server = processes.gunicorn(
        "nxcloud", nxcloud_port, {**common, "NXWA_CLUSTER_ROLE": "nxcloud"}, workers=2, threads=4
    )
    server.answers(nxcloud + "/probe/api/")
    names: list[str] = []
    for n in range(1, WORKERS + 1):
        env = {**common, "NXWA_BENCH_BASE_URL": f"{nxcloud}/worker{n}"}
        command = [*WORKER_COMMANDS[backend]]
        if backend == "rq":
            names.append(f"nxwa-cluster-worker{n}-{os.getpid()}-{int(time.time())}")
            command += ["--name", names[-1]]
        processes.start(f"worker{n}", ["-m", "django", *command], env)
    sites = []
    for n in range(1, SITES + 1):
        port = free_port()
        env = {**common, "NXWA_BENCH_BASE_URL": f"{nxcloud}/web{n}"}
        site = processes.gunicorn(f"web{n}", port, env, workers=2, threads=1)
        sites.append(f"http://127.0.0.1:{port}")
        site.answers(sites[-1] + "/bench/trivial/")
    if backend == "rq":
        wait_for_rq_workers(names)
    return sites


def merchants_at_once(count: int, timeout: float, sites: list[str]) -> Row:
    """Sign the merchants up, then verify all at once and follow until registered (or timeout)."""
    merchants = make_merchants(count, sites)
    tally = Tally()
    began = time.monotonic()
    with ThreadPoolExecutor(SIGN_UP_THREADS) as pool:
        list(pool.map(lambda m: sign_up(m, tally), merchants))
    hand_out_codes(merchants)
    result: Row = {"sign_up_s": round(time.monotonic() - began, 1)}

    released: list[float] = []
    barrier = threading.Barrier(count, action=lambda: released.append(time.monotonic()))
    deadline = time.monotonic() + timeout
    threads = [
        threading.Thread(target=verify_and_follow, args=(m, tally, barrier, deadline), daemon=True)
        for m in merchants
    ]
    for thread in threads:
        thread.start()
    while not released and any(t.is_alive() for t in threads):
        time.sleep(0.01)
    t0 = released[0] if released else time.monotonic()
    result["all_registered_s"] = wait_for_registered(count, t0, deadline)
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0) + 5)
    answered = [m.checked_at for m in merchants if m.checked_at]
    result["all_codes_answered_s"] = round(max(answered) - t0, 2) if answered else None
    seen = [m.done_at for m in merchants if m.done_at]
    result["all_pages_show_registered_s"] = round(max(seen) - t0, 2) if len(seen) == count else None
    result["polls"] = sum(m.polls for m in merchants)
    result["requests"] = tally.as_dict()
    result["server_errors"] = tally.server_errors()
    result["merchant_errors"] = tally.errors[:20]
    return result


# -- the run ------------------------------------------------------------------------------------


def render(results: Row) -> str:
    lines = [f"### {results['merchants']} merchants verifying at once: 2 gunicorn instances, 2 workers"]
    lines.append("")
    lines.append(
        "| backend | createClient (numbers, most per number) | registered (site / sandbox)"
        " | accepted attempts / rows"
        " | 5xx | phoneList (by workers) | polls | codes answered | clients created | all registered | run |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for backend, r in results["backends"].items():
        if "error" in r:
            lines.append(f"| {backend} | error: {r['error']} |")
            continue
        by_status = r["registrations_by_status"]
        lines.append(
            f"| {backend} | {r['create_client_calls']} ({r['create_client_numbers']}, "
            f"{r['create_client_most_per_number']}) | {by_status.get('registered', 0)} / "
            f"{r['sandbox_registered_numbers']} | {r['accepted_attempts']} / {r['attempts']} | "
            f"{r['server_errors']} | {r['phone_list_calls']} | {r['polls']} | "
            f"{r['all_codes_answered_s']} s | {r['all_clients_created_s']} s | {r['all_registered_s']} s | "
            f"{r['elapsed_s']} s |"
        )
    lines.append("")
    for backend, r in results["backends"].items():
        for failure in r.get("failures", []):
            lines.append(f"FAILED ({backend}): {failure}")
        for when, key in (("while running", "tracebacks"), ("while stopping", "tracebacks_stopping")):
            for name, blocks in (r.get(key) or {}).items():
                for block in blocks[:3]:
                    lines += ["", f"{backend}, {name}, {when}:", block]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 merchants: a smoke run")
    parser.add_argument("--backend", action="append", choices=sorted(WORKER_COMMANDS), help="repeatable")
    parser.add_argument("--merchants", type=int, default=0, help="default 200 (--quick: 20)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for all to be registered")
    args = parser.parse_args(argv)
    count = args.merchants or (20 if args.quick else 200)

    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        print("benchmarks/cluster/run.py needs PostgreSQL (DATABASE_URL)", file=sys.stderr)
        return 2
    from benchmarks.common import machine

    results: Row = {
        "quick": args.quick,
        "merchants": count,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "backends": {},
    }
    log_dir = RESULTS_DIR / "cluster-logs"
    for backend in args.backend or ["db", "rq"]:
        print(f"{count} merchants on the {backend} backend ...", file=sys.stderr)
        try:
            results["backends"][backend] = run_backend(backend, count, args.timeout, log_dir)
        except Exception as err:
            results["backends"][backend] = {"error": f"{type(err).__name__}: {err}", "failures": [str(err)]}
        if "machine" not in results:
            try:
                results["machine"] = machine_info(machine)
            except Exception as err:
                results["machine"] = {"error": f"{type(err).__name__}: {err}"}
    results["undropped_databases"] = UNDROPPED
    table = render(results)
    print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "cluster.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    failed = any(r.get("failures") for r in results["backends"].values())
    return 1 if failed or UNDROPPED else 0


def machine_info(machine: Any) -> Row:
    """benchmarks.run's machine(), on the server's maintenance database (ours are dropped)."""
    from django.db import connection, connections

    connections.close_all()
    connection.settings_dict["NAME"] = "postgres"
    try:
        return dict(machine())
    finally:
        connections.close_all()


if __name__ == "__main__":
    raise SystemExit(main())
