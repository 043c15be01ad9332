"""``make bench``: the app measured against the bare minimum, in one run, as ratios.

Sections (each skipped with a note when its precondition is missing):

1. Verification overhead: ``services.check_code`` end to end against a bare signed
   ``requests`` POST (kept-alive session) to the same loopback NXCloud stand-in, on the
   database of ``DATABASE_URL`` (PostgreSQL for ``make bench``) and on SQLite (a child process).
2. Queries and NXCloud round trips per operation; TCP connections for 100 sequential calls.
3. The admin changelists at 1,000 and at 100,000 registrations / 500,000 attempts (PostgreSQL).
4. The customer pages under load: gunicorn (2 workers) against a trivial Django view.

The table is printed; everything is written to ``benchmarks/results/latest.json`` and the
table to ``benchmarks/RESULTS.md``. Usage: ``python benchmarks/run.py [--quick] [--only NAME]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

RESULTS_DIR = ROOT / "benchmarks" / "results"
Row = dict[str, Any]


# -- numbers -------------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 400 samples is the 396th smallest)."""
    ordered = sorted(values)
    rank = max(min(round(pct / 100 * len(ordered) + 0.5) - 1, len(ordered) - 1), 0)
    return ordered[rank]


def summary_ms(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("inf")


# -- Django --------------------------------------------------------------------------------------


def setup_django() -> str:
    """Configure Django and create the bench database; returns its vendor."""
    import django
    from django.db import connection

    django.setup()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    return str(connection.vendor)


def teardown_django(old_name: str | None = None) -> None:
    from django.db import connection

    connection.close()
    connection.creation.destroy_test_db(
        old_name or connection.settings_dict["NAME"], verbosity=0, keepdb=False
    )


class PhoneSource:
    """Valid, never repeated Chinese mobile numbers (138 xxxx xxxx)."""

    def __init__(self, start: int = 0) -> None:
        self.next = start

    def __call__(self) -> str:
        self.next += 1
        return f"86138{self.next:08d}"


def fresh_registration(phones: PhoneSource) -> Any:
    """A registration with a code sent (through the loopback stand-in)."""
    from nxwa_onboarding import services

    registration = services.create_registration(phones())
    code_request = services.request_code(registration)
    assert code_request.outcome == "sent", code_request.outcome
    return registration


@contextmanager
def loopback_server(**kwargs: Any) -> Iterator[Any]:
    from django.conf import settings
    from django.test import override_settings

    from tests.loopback import LoopbackNXCloud

    with LoopbackNXCloud(**kwargs) as server:
        nxwa = {**settings.NXWA_ONBOARDING, "BASE_URL": server.base_url}
        with override_settings(NXWA_ONBOARDING=nxwa):
            yield server


# -- 1. verification overhead ----------------------------------------------------------------------


def bare_check(session: Any, base_url: str, phone: str, code: str) -> None:
    """The minimum any integration does: serialise, sign, POST on a kept-alive session, read JSON."""
    from nxwa_onboarding.conf import conf
    from nxwa_onboarding.signing import compute_sign

    body = json.dumps({"phone_number": phone, "code": code}, separators=(",", ":"))
    headers = {
        "accessKey": conf.ACCESS_KEY,
        "action": "checkCode",
        "bizType": "2",
        "ts": str(int(time.time() * 1000)),
        "Content-Type": "application/json",
    }
    headers["sign"] = compute_sign(headers, body, conf.ACCESS_SECRET)
    response = session.post(
        base_url + "/api/wa/integrator/embedded/register/checkCode",
        data=body.encode(),
        headers=headers,
        timeout=(2, 5),
    )
    assert response.json()["code"] == 0


def bench_overhead(iterations: int) -> Row:
    import requests

    from nxwa_onboarding import services

    phones = PhoneSource(start=10_000_000)
    bare: list[float] = []
    service: list[float] = []
    with loopback_server() as server:
        session = requests.Session()
        for index in range(iterations + 20):
            registration = fresh_registration(phones)
            ip = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
            # Interleaved, so drift (CPU frequency, other load) hits both sides alike.
            started = time.perf_counter()
            bare_check(session, server.base_url, registration.phone_number, "123456")
            middle = time.perf_counter()
            attempt = services.check_code(registration, "123-456", ip=ip, channel="api")
            ended = time.perf_counter()
            assert attempt.outcome == "accepted", (attempt.outcome, attempt.result_message)
            if index >= 20:  # warm-up: imports, prepared plans, the first connection
                bare.append(middle - started)
                service.append(ended - middle)
    row_bare, row_service = summary_ms(bare), summary_ms(service)
    return {
        "bare": row_bare,
        "service": row_service,
        "median_ratio": ratio(row_service["median_ms"], row_bare["median_ms"]),
        "p99_ratio": ratio(row_service["p99_ms"], row_bare["p99_ms"]),
        "overhead_median_ms": round(row_service["median_ms"] - row_bare["median_ms"], 3),
    }


def bench_overhead_with_latency(iterations: int, latency: float) -> Row:
    """The same comparison against a stand-in that takes ``latency`` seconds, like a real API."""
    import requests

    from nxwa_onboarding import services
    from tests.loopback import Behaviour

    phones = PhoneSource(start=20_000_000)
    bare: list[float] = []
    service: list[float] = []
    with loopback_server() as server:
        session = requests.Session()
        for index in range(iterations):
            registration = fresh_registration(phones)
            server.push(Behaviour(kind="slow", delay=latency), Behaviour(kind="slow", delay=latency))
            started = time.perf_counter()
            bare_check(session, server.base_url, registration.phone_number, "123456")
            middle = time.perf_counter()
            attempt = services.check_code(registration, "123456", ip=f"10.9.{index // 256}.{index % 256}")
            service.append(time.perf_counter() - middle)
            bare.append(middle - started)
            assert attempt.outcome == "accepted"
    row_bare, row_service = summary_ms(bare), summary_ms(service)
    return {
        "latency_ms": latency * 1000,
        "bare": row_bare,
        "service": row_service,
        "median_ratio": ratio(row_service["median_ms"], row_bare["median_ms"]),
    }


# -- 2. queries, round trips, connections ------------------------------------------------------------


def bench_queries() -> Row:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from nxwa_onboarding import services
    from tests.loopback import result

    phones = PhoneSource(start=30_000_000)
    rows: Row = {}

    def measure(name: str, setup: Callable[[Any], None], run: Callable[[Any], Any], expect: str) -> None:
        registration = fresh_registration(phones)
        setup(registration)
        before = len(server.received)
        with CaptureQueriesContext(connection) as queries:
            outcome = run(registration).outcome
        assert outcome == expect, (name, outcome)
        rows[name] = {"queries": len(queries), "round_trips": len(server.received) - before}

    def nothing(registration: Any) -> None:
        pass

    def reject_next(registration: Any) -> None:
        server.push(result(9001, "Verification code is incorrect"))

    def use_up(registration: Any) -> None:
        from nxwa_onboarding.conf import conf

        for _ in range(conf.MAX_CHECK_ATTEMPTS):
            server.push(result(9001, "Verification code is incorrect"))
            services.check_code(registration, "000000")

    def check(registration: Any) -> Any:
        return services.check_code(registration, "123456", ip="10.1.2.3")

    def send(registration: Any) -> Any:
        registration.refresh_from_db()
        return services.request_code(registration, ip="10.1.2.3")

    def make_new(registration: Any) -> None:
        pass

    with loopback_server() as server:
        measure("check_code accepted", nothing, check, "accepted")
        measure("check_code rejected", reject_next, check, "rejected")
        measure("check_code refused (too many tries)", use_up, check, "refused")
        # request_code on a brand-new registration (no cooldown in the way).
        registration = services.create_registration(phones())
        before = len(server.received)
        with CaptureQueriesContext(connection) as queries:
            outcome = services.request_code(registration, ip="10.1.2.3").outcome
        assert outcome == "sent", outcome
        rows["request_code sent"] = {"queries": len(queries), "round_trips": len(server.received) - before}
        measure("request_code refused (cooldown)", make_new, send, "refused")
    return rows


def bench_connections(calls: int = 100) -> Row:
    from nxwa_onboarding import services

    phones = PhoneSource(start=40_000_000)
    with loopback_server() as server:
        registrations = [services.create_registration(phones()) for _ in range(calls)]
        with server.lock:
            server.connections.clear()
        for registration in registrations:
            services.request_code(registration)
        sends = len(server.connections)
        with server.lock:
            server.connections.clear()
        for registration in registrations:
            attempt = services.check_code(registration, "123456")
            assert attempt.outcome == "accepted"
        checks = len(server.connections)
    return {"calls": calls, "connections_request_code": sends, "connections_check_code": checks}


# -- SQLite in a child process ----------------------------------------------------------------------


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
    setup_django()
    try:
        if section == "overhead":
            row = bench_overhead(iterations)
        else:
            raise SystemExit(f"unknown child section {section}")
    finally:
        teardown_django()
    print(json.dumps(row))


# -- output ------------------------------------------------------------------------------------------


def machine() -> Row:
    from django.db import connection

    info: Row = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                info["cpu"] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            info["postgresql"] = cursor.fetchone()[0]
    import django

    info["django"] = django.get_version()
    return info


def goal(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def render(results: Row) -> str:
    lines: list[str] = []
    add = lines.append
    m = results["machine"]
    add(
        f"Machine: {m.get('cpu', '?')}, {m['cpus']} CPUs; Python {m['python']}, Django {m['django']}, "
        f"PostgreSQL {m.get('postgresql', '-')}"
    )
    add("")
    if "overhead" in results:
        add("### Verification overhead: services.check_code vs a bare signed POST (loopback NXCloud)")
        add("")
        add("| database | bare median | service median | ratio | bare p99 | service p99 | p99 ratio | goal |")
        add("|---|---|---|---|---|---|---|---|")
        for db, row in results["overhead"].items():
            target = goal(row["median_ratio"] <= 1.5) if db == "postgresql" else "-"
            add(
                f"| {db} | {row['bare']['median_ms']:.3f} ms | {row['service']['median_ms']:.3f} ms | "
                f"{row['median_ratio']:.2f}x | {row['bare']['p99_ms']:.3f} ms | "
                f"{row['service']['p99_ms']:.3f} ms | {row['p99_ratio']:.2f}x | {target} |"
            )
        for db, row in results.get("overhead_latency", {}).items():
            add(
                f"| {db}, NXCloud taking {row['latency_ms']:.0f} ms | {row['bare']['median_ms']:.1f} ms | "
                f"{row['service']['median_ms']:.1f} ms | {row['median_ratio']:.2f}x | | | | |"
            )
        add("")
    if "queries" in results:
        add("### Queries and NXCloud round trips per operation")
        add("")
        add("| operation | queries | round trips |")
        add("|---|---|---|")
        for name, row in results["queries"].items():
            add(f"| {name} | {row['queries']} | {row['round_trips']} |")
        c = results["connections"]
        add("")
        add(
            f"TCP connections for {c['calls']} sequential calls: "
            f"request_code {c['connections_request_code']}, check_code {c['connections_check_code']} "
            f"(goal 1: {goal(c['connections_check_code'] <= 1 and c['connections_request_code'] <= 1)})"
        )
        add("")
    if "admin" in results:
        a = results["admin"]
        if "skipped" in a:
            add(f"### Admin at scale: skipped ({a['skipped']})")
        else:
            add(
                f"### Admin changelists: {a['small']['registrations']:,} vs {a['large']['registrations']:,} "
                f"registrations ({a['small']['attempts']:,} vs {a['large']['attempts']:,} attempts)"
            )
            add("")
            add("| page | queries small | queries large | median small | median large | ratio | goal |")
            add("|---|---|---|---|---|---|---|")
            for page, row in a["pages"].items():
                ok = row["queries_small"] == row["queries_large"] and row["time_ratio"] <= 2
                add(
                    f"| {page} | {row['queries_small']} | {row['queries_large']} | "
                    f"{row['median_small_ms']:.1f} ms | {row['median_large_ms']:.1f} ms | "
                    f"{row['time_ratio']:.2f}x | {goal(ok)} |"
                )
            add("")
            add(f"Bulk generation: {a['generation_s']:.1f} s")
        add("")
    if "load" in results:
        load = results["load"]
        if "skipped" in load:
            add(f"### Customer pages under load: skipped ({load['skipped']})")
        else:
            add(
                f"### Customer pages under load: gunicorn ({load['workers']} workers), "
                f"{load['threads']} client threads, {load['seconds']:.0f} s"
            )
            add("")
            add("| page | requests | RPS | p50 | p99 | 5xx | RPS vs trivial view |")
            add("|---|---|---|---|---|---|---|")
            for page, row in load["pages"].items():
                add(
                    f"| {page} | {row['requests']} | {row['rps']:.0f} | {row['p50_ms']:.1f} ms | "
                    f"{row['p99_ms']:.1f} ms | {row['errors_5xx']} | {row['rps_vs_trivial']:.2f} |"
                )
            add("")
            add(
                f"Code submissions: {load['submissions']}, attempt rows: {load['attempt_rows']}, "
                f"lost: {load['lost_attempts']}; 5xx in total: {load['total_5xx']}"
            )
        add("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations, smaller admin data")
    parser.add_argument("--only", action="append", help="overhead, queries, admin, load (repeatable)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--iterations", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    iterations = args.iterations or (100 if args.quick else 400)
    if args.child:
        child_main(args.child, iterations)
        return
    wanted = set(args.only or ["overhead", "queries", "admin", "load"])
    started = time.monotonic()

    from django.db import connection

    old_name = os.environ.get("DATABASE_URL", "")
    vendor = setup_django()
    results: Row = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    try:
        if "overhead" in wanted:
            print(f"overhead on {vendor} ...", file=sys.stderr)
            results["overhead"] = {vendor: bench_overhead(iterations)}
            if vendor != "sqlite":
                print("overhead on sqlite ...", file=sys.stderr)
                with tempfile.TemporaryDirectory() as tmp:
                    results["overhead"]["sqlite"] = run_child(
                        "overhead",
                        {
                            "DATABASE_URL": f"sqlite:///{tmp}/unused.sqlite3",
                            "NXWA_BENCH_SQLITE": f"{tmp}/bench.sqlite3",
                        },
                        ["--iterations", str(iterations)],
                    )
            results["overhead_latency"] = {vendor: bench_overhead_with_latency(40, 0.05)}
        if "queries" in wanted:
            print("queries and connections ...", file=sys.stderr)
            results["queries"] = bench_queries()
            results["connections"] = bench_connections()
        if "admin" in wanted:
            from benchmarks.scale import bench_admin

            print("admin at scale ...", file=sys.stderr)
            results["admin"] = bench_admin(quick=args.quick)
        if "load" in wanted:
            from benchmarks.load import bench_load

            print("customer pages under load ...", file=sys.stderr)
            results["load"] = bench_load(
                seconds=5 if args.quick else 15, db_name=str(connection.settings_dict["NAME"])
            )
    finally:
        teardown_django()
    del old_name
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    table = render(results)
    print(table)
    print(f"(whole run: {results['elapsed_s']} s)")
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    if not args.only and not args.quick:
        header = (
            "# Benchmark results\n\nWritten by `make bench` (benchmarks/run.py); "
            f"run of {results['started']}, {results['elapsed_s']} s.\n\n"
        )
        (ROOT / "benchmarks" / "RESULTS.md").write_text(header + table + "\n")


if __name__ == "__main__":
    main()
