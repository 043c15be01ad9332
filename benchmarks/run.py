"""``make bench``: the app measured against the bare minimum, in one run, as ratios.

Sections (each skipped with a note when its precondition is missing):

1. Verification: ``services.check_code`` end to end, interleaved with three baselines against
   the same loopback NXCloud stand-in: a bare signed ``requests`` POST (kept-alive session), one
   call of the app's ``NXCloudClient``, and the floor (``Floor``: the write-ahead guarantee's
   minimum SQL on a bare driver connection around that one client call). On the database of
   ``DATABASE_URL`` (PostgreSQL for ``make bench``) and on SQLite (a child process), plus the
   bare POST comparison against a stand-in that takes 50 ms.
2. Queries and NXCloud round trips per operation; TCP connections for 100 sequential calls.
3. The admin changelists at 1,000 and at 100,000 registrations / 500,000 attempts (PostgreSQL).
3b. The onboarding funnel page at 100,000 registrations (PostgreSQL; ``--only funnel``).
4. The customer pages under load: gunicorn (2 workers) against a trivial Django view.
5. The JSON API under the same load: the state endpoint and the code submission, against the
   same trivial view (``--only api``).
6. The status page and the code submission at 5,000 and at 500,000 attempts, limits at their
   defaults, prepared statements off and on (``--only throughput``; benchmarks/throughput.py).
7. The peers (issue 25): this app's customer pages, django-allauth's phone verification and a
   hand-written view under one gunicorn, shuffled rounds, ratios and CPU per request, with the
   light load generator's and ``requests``' ceilings on a trivial view (``--only peers``;
   benchmarks/peers/; its own project and database, in a child process; also written to
   ``benchmarks/results/peers.json``). Needs the ``bench`` extra (django-allauth).

The table is printed; everything is written to ``benchmarks/results/latest.json`` and, for a
complete full-size run only, the table to ``benchmarks/RESULTS.md``. Usage:
``python benchmarks/run.py [--quick] [--only NAME] [--iterations N]``; ``--only check_code`` runs
just section 1 on ``DATABASE_URL``'s database (seconds, not minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

from benchmarks.common import RESULTS_DIR, Row, machine, setup_django, teardown_django  # noqa: E402
from benchmarks.report import render  # noqa: E402


@dataclass(frozen=True)
class Run:
    """What a section is given: the command line, the samples per side, the database's name and
    vendor, and the results so far (a section adds its own keys)."""

    quick: bool
    iterations: int
    db_name: str
    vendor: str
    results: Row


@dataclass(frozen=True)
class Section:
    """One section of ``make bench``: what it says while it runs, and the function that runs it."""

    title: str
    measure: Callable[[Run], None]
    in_full_run: bool = True


def _check_code(run: Run) -> None:
    from benchmarks.verification import bench_overhead

    run.results.setdefault("overhead", {})[run.vendor] = bench_overhead(run.iterations)


def _overhead(run: Run) -> None:
    """check_code on this database, on SQLite in a child process, and against a slow stand-in."""
    from benchmarks.verification import bench_overhead_with_latency

    _check_code(run)
    if run.vendor != "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            run.results["overhead"]["sqlite"] = run_child(
                "overhead",
                {
                    "DATABASE_URL": f"sqlite:///{tmp}/unused.sqlite3",
                    "NXWA_BENCH_SQLITE": f"{tmp}/bench.sqlite3",
                },
                ["--iterations", str(run.iterations)],
            )
    run.results["overhead_latency"] = {run.vendor: bench_overhead_with_latency(40, 0.05)}


def _queries(run: Run) -> None:
    from benchmarks.queries import bench_connections, bench_queries

    run.results["queries"] = bench_queries()
    run.results["connections"] = bench_connections()


def _admin(run: Run) -> None:
    from benchmarks.scale import bench_admin

    run.results["admin"] = bench_admin(quick=run.quick)


def _funnel(run: Run) -> None:
    from benchmarks.funnel import bench_funnel

    run.results["funnel"] = bench_funnel(quick=run.quick)


def _load(run: Run) -> None:
    from benchmarks.load import bench_load

    run.results["load"] = bench_load(seconds=5 if run.quick else 15, db_name=run.db_name)


def _api(run: Run) -> None:
    from benchmarks.api_load import bench_api_load

    run.results["api"] = bench_api_load(seconds=5 if run.quick else 15, db_name=run.db_name)


def _throughput(run: Run) -> None:
    from benchmarks.throughput import bench_throughput

    run.results["throughput"] = bench_throughput(
        seconds=4 if run.quick else 8, db_name=run.db_name, quick=run.quick
    )


def _metrics(run: Run) -> None:
    from benchmarks.metrics_scrape import bench

    run.results["metrics"] = bench(10_000 if run.quick else 100_000, 5 if run.quick else 21)


def _peers(run: Run) -> None:
    """In a child process: its own settings (allauth installed) and its own database."""
    try:
        import allauth  # noqa: F401
    except ImportError:
        run.results["peers"] = {"skipped": "django-allauth is not installed (pip install -e '.[bench]')"}
        return
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks.peers.bench", *(["--quick"] if run.quick else [])],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.peers.settings"},
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    result = dict(json.loads(output.stdout.strip().splitlines()[-1]))
    run.results["peers"] = result
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "peers.json").write_text(
        json.dumps({"started": run.results["started"], "quick": run.quick, **result}, indent=2) + "\n"
    )


#: The sections, in the order they run. ``check_code`` is the first part of ``overhead`` alone
#: (``--only check_code``: seconds, not minutes); a full run runs the others.
SECTIONS: dict[str, Section] = {
    "overhead": Section("check_code against the bare POST and the floor, here and on SQLite", _overhead),
    "check_code": Section("check_code against the bare POST and the floor", _check_code, in_full_run=False),
    "queries": Section("queries and connections", _queries),
    "admin": Section("admin at scale", _admin),
    "funnel": Section("the funnel page at scale", _funnel),
    "load": Section("customer pages under load", _load),
    "api": Section("the JSON API under load", _api),
    "metrics": Section("the metrics scrape at 100,000 registrations", _metrics),
    "throughput": Section("status page and code submission at 5,000 and 500,000 attempts", _throughput),
    "peers": Section("this app against django-allauth's phone verification and a hand-written view", _peers),
}


def run_child(section: str, env: dict[str, str], args: list[str]) -> Row:
    output = subprocess.run(
        [sys.executable, __file__, "--child", section, *args],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return dict(json.loads(output.stdout.strip().splitlines()[-1]))


def child_main(section: str, iterations: int) -> None:
    """A section run in a child process (SQLite beside PostgreSQL): prints its row as JSON."""
    from benchmarks.verification import bench_overhead

    if section != "overhead":
        raise SystemExit(f"unknown child section {section}")
    setup_django()
    try:
        row = bench_overhead(iterations)
    finally:
        teardown_django()
    print(json.dumps(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations, smaller admin data")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(SECTIONS),
        help="run only these sections (repeatable); check_code: the verification against the bare\n"
        "POST and the floor on DATABASE_URL's database only (no SQLite child, no latency rows)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--iterations",
        type=int,
        default=0,
        help="samples per side for the verification (default 400; --quick 100)",
    )
    args = parser.parse_args()
    iterations = args.iterations or (100 if args.quick else 400)
    if args.child:
        child_main(args.child, iterations)
        return
    wanted = args.only or [name for name, section in SECTIONS.items() if section.in_full_run]
    started = time.monotonic()

    from django.db import connection

    vendor = setup_django()
    results: Row = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    timings: dict[str, float] = {}
    results["sections_s"] = timings
    run = Run(args.quick, iterations, str(connection.settings_dict["NAME"]), vendor, results)
    print(f"measuring {results['machine']['package']}", file=sys.stderr)
    try:
        for name in wanted:
            section = SECTIONS[name]
            print(f"{section.title} ({vendor}) ...", file=sys.stderr)
            began = time.monotonic()
            try:
                section.measure(run)
            finally:
                timings[name] = round(time.monotonic() - began, 1)
    finally:
        teardown_django()
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    table = render(results)
    print(table)
    parts = ", ".join(f"{name} {seconds} s" for name, seconds in timings.items())
    print(f"(whole run: {results['elapsed_s']} s; {parts})")
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    # Only a complete, full-size run is the record; a partial or smaller one stays in latest.json.
    if not args.only and not args.quick and not args.iterations:
        header = (
            "# Benchmark results\n\nWritten by `make bench` (benchmarks/run.py); "
            f"run of {results['started']}, {results['elapsed_s']} s.\n\n"
        )
        (ROOT / "benchmarks" / "RESULTS.md").write_text(header + table + "\n")


if __name__ == "__main__":
    main()
