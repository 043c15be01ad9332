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

The table is printed; everything is written to ``benchmarks/results/latest.json`` and, for a
complete full-size run only, the table to ``benchmarks/RESULTS.md``. Usage:
``python benchmarks/run.py [--quick] [--only NAME] [--iterations N]``; ``--only check_code`` runs
just section 1 on ``DATABASE_URL``'s database (seconds, not minutes).
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

    from tests.helpers.loopback import LoopbackNXCloud

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


# -- 1b. the floor: the write-ahead guarantee's minimum SQL and one client call, no Django ---------


class Floor:
    """The least any implementation of the write-ahead guarantee can do for one verification.

    On its own DB-API connection to the bench database (psycopg, or sqlite3 for the SQLite child;
    no Django, no ORM, the driver's defaults, so psycopg prepares the statements it sees repeated):
    transaction 1 inserts the pending attempt (with its current code, so a crash mid-call still
    counts against that code) and reads what the check rules need in one SELECT, then commits;
    then one ``NXCloudClient.check_code`` call; transaction 2 finishes the attempt and marks the
    registration verified, then commits. The tables and columns are the app's, named from the
    models' ``_meta``; the SELECT is written here, independently of ``services.sql``, so a
    heavier statement in the app shows up as distance from the floor instead of moving it.
    """

    def __init__(self, client: Any) -> None:
        from django.db import connection

        from nxwa_onboarding.choices import AttemptOutcome, Channel, RegistrationStatus
        from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
        from nxwa_onboarding.services.rules import CODE_BEARING_SENDS, COUNTED_ATTEMPTS, IP_COUNTED_ATTEMPTS

        self.client = client
        self.vendor = str(connection.vendor)
        db = connection.settings_dict
        if self.vendor == "postgresql":
            import psycopg

            self.conn: Any = psycopg.connect(
                host=db["HOST"] or None,
                port=db["PORT"] or None,
                user=db["USER"] or None,
                password=db["PASSWORD"] or None,
                dbname=db["NAME"],
            )
        elif self.vendor == "sqlite":
            import sqlite3

            # isolation_level=None: no implicit transactions; BEGIN and COMMIT are ours.
            self.conn = sqlite3.connect(db["NAME"], isolation_level=None)
            # As Django's SQLite backend does: the foreign keys are checked, as on PostgreSQL.
            self.conn.execute("PRAGMA foreign_keys = ON")
        else:
            raise RuntimeError(f"no floor for {self.vendor}")

        def table(model: Any) -> str:
            return f'"{model._meta.db_table}"'

        def col(model: Any, name: str) -> str:
            return f'"{model._meta.get_field(name).column}"'

        def among(values: tuple[str, ...]) -> str:
            return "(" + ", ".join(f"'{value}'" for value in values) + ")"

        A, C, R = VerificationAttempt, CodeRequest, PhoneRegistration
        att, sends, regs = table(A), table(C), table(R)
        a_id, a_reg, a_code, a_out, a_ip, a_at = (
            col(A, name) for name in ("id", "registration", "code_request", "outcome", "ip", "created_at")
        )
        c_id, c_reg, c_out, c_at = (col(C, name) for name in ("id", "registration", "outcome", "created_at"))
        # The registration's current code: its latest send that was (or may have been) delivered.
        latest = (
            f"FROM {sends} c WHERE c.{c_reg} = %(reg)s AND c.{c_out} IN {among(CODE_BEARING_SENDS)}"
            f" ORDER BY c.{c_at} DESC, c.{c_id} DESC LIMIT 1"
        )
        inserted = {
            "registration": "%(reg)s",
            "code_request": f"(SELECT c.{c_id} {latest})",
            "channel": f"'{Channel.API}'",
            "ip": "%(ip)s",
            "code_digest": "%(digest)s",
            "outcome": f"'{AttemptOutcome.PENDING}'",
            "refusal_reason": "''",
            "result_message": "''",
            "created_at": "%(now)s",
        }
        fields = {f.name for f in A._meta.concrete_fields}
        if "failure" in fields:  # (the code before issue 10 had no such column: same floor there)
            inserted["failure"] = "''"
        by_ip = "%(ip)s"
        if "ip_block" in fields:
            # The address as the per-address rule counts it (an IPv4 address is its own block).
            inserted["ip_block"] = "%(block)s"
            a_ip, by_ip = col(A, "ip_block"), "%(block)s"
        # Every NOT NULL column gets a value (the app's INSERT fills the same ones from defaults):
        # a new required column fails here, loudly, instead of making the floor cheaper.
        required = {f.name for f in A._meta.concrete_fields if not f.null and not f.primary_key}
        missing = required - set(inserted)
        assert not missing, f"the floor's INSERT misses NOT NULL columns: {sorted(missing)}"
        self.insert = (
            f"INSERT INTO {att} ({', '.join(col(A, name) for name in inserted)}) "  # noqa: S608
            f"VALUES ({', '.join(inserted.values())}) RETURNING {a_id}"
        )
        # What check_state needs: status, the current code and when it was sent, the counted
        # attempts on it and those in flight (this row left out), and the address's last hour.
        self.rules = (
            f"WITH cur AS (SELECT c.{c_id} id, c.{c_at} sent_at {latest}) "  # noqa: S608
            f"SELECT r.{col(R, 'status')}, r.{col(R, 'verified_at')}, cur.id, cur.sent_at, "
            "mine.on_code, mine.pending, byip.n, byip.oldest "
            f"FROM {regs} r LEFT JOIN cur ON TRUE CROSS JOIN ("
            f"SELECT COUNT(CASE WHEN a.{a_code} = (SELECT id FROM cur)"
            f" AND a.{a_out} IN {among(COUNTED_ATTEMPTS)} THEN 1 END) on_code,"
            f" COUNT(CASE WHEN a.{a_out} = '{AttemptOutcome.PENDING}' THEN 1 END) pending"
            f" FROM {att} a WHERE a.{a_reg} = %(reg)s AND a.{a_id} <> %(me)s) mine CROSS JOIN ("
            f"SELECT COUNT(*) n, MIN(a.{a_at}) oldest FROM {att} a WHERE a.{a_ip} = {by_ip}"
            f" AND a.{a_at} > %(hour_ago)s AND a.{a_out} IN {among(IP_COUNTED_ATTEMPTS)}"
            f" AND a.{a_id} <> %(me)s) byip WHERE r.{col(R, 'id')} = %(reg)s"
        )
        finished = tuple(
            name
            for name in ("outcome", "failure", "result_code", "result_message", "http_status", "duration_ms")
            if name in fields
        )
        self.finish = (
            f"UPDATE {att} SET {', '.join(f'{col(A, name)} = %({name})s' for name in finished)}, "  # noqa: S608
            f"{col(A, 'finished_at')} = %(now)s"
            f" WHERE {a_id} = %(me)s AND {a_out} = '{AttemptOutcome.PENDING}'"
        )
        self.verify = (
            f"UPDATE {regs} SET {col(R, 'status')} = '{RegistrationStatus.VERIFIED}', "  # noqa: S608
            f"{col(R, 'verified_at')} = %(now)s, {col(R, 'updated_at')} = %(now)s "
            f"WHERE {col(R, 'id')} = %(reg)s AND {col(R, 'verified_at')} IS NULL"
        )
        self.accepted = str(AttemptOutcome.ACCEPTED)
        self.verified = str(RegistrationStatus.VERIFIED)
        if self.vendor == "sqlite":
            # sqlite3's named style is :name; values are the same parameters.
            import re

            for name in ("insert", "rules", "finish", "verify"):
                setattr(self, name, re.sub(r"%\((\w+)\)s", r":\1", getattr(self, name)))

    def begin(self, cursor: Any) -> None:
        """psycopg opens the transaction with the first statement; sqlite3 here is told to."""
        if self.vendor == "sqlite":
            cursor.execute("BEGIN")

    def when(self, value: Any) -> Any:
        """A datetime as the driver takes it (Django stores naive UTC text on SQLite)."""
        if self.vendor == "sqlite":
            return value.replace(tzinfo=None).isoformat(" ")
        return value

    def check(self, registration_pk: int, phone: str, code: str, ip: str, digest: str) -> None:
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC)
        reg = {"reg": registration_pk}
        cursor = self.conn.cursor()
        self.begin(cursor)
        # Transaction 1: the pending row, then the rules with it in place; committed before the call.
        cursor.execute(self.insert, {**reg, "ip": ip, "block": ip, "digest": digest, "now": self.when(now)})
        me = cursor.fetchone()[0]
        cursor.execute(
            self.rules,
            {**reg, "me": me, "ip": ip, "block": ip, "hour_ago": self.when(now - timedelta(hours=1))},
        )
        status, verified_at, code_id, _sent_at, on_code, pending, _ip_count, _oldest = cursor.fetchone()
        assert status != self.verified, status
        assert verified_at is None, verified_at
        assert code_id is not None, "no current code"
        assert not pending, pending
        assert on_code == 0, on_code
        self.conn.commit()
        # The call: one signed POST through the app's client (kept-alive session).
        started = time.monotonic()
        self.client.check_code(phone, code)
        duration_ms = int((time.monotonic() - started) * 1000)
        # Transaction 2: finish the attempt and mark the registration verified, together.
        done = self.when(datetime.now(UTC))
        self.begin(cursor)
        cursor.execute(
            self.finish,
            {
                "me": me,
                "now": done,
                "outcome": self.accepted,
                "failure": "",
                "result_code": 0,
                "result_message": "",
                "http_status": 200,
                "duration_ms": duration_ms,
            },
        )
        assert cursor.rowcount == 1
        cursor.execute(self.verify, {**reg, "now": done})
        assert cursor.rowcount == 1
        self.conn.commit()
        cursor.close()

    def close(self) -> None:
        self.conn.close()


def bench_overhead(iterations: int, warmup: int = 20) -> Row:
    """check_code against a bare signed POST, one call of the app's client, and the floor.

    Four sides, interleaved and rotated every round, so drift (CPU frequency, other load) and
    any advantage of going first hit them alike; ``warmup`` rounds (imports, prepared plans,
    the first connection) are left out.
    """
    import requests

    from nxwa_onboarding import services
    from nxwa_onboarding.client import NXCloudClient
    from nxwa_onboarding.codes import code_digest
    from nxwa_onboarding.models import PhoneRegistration, VerificationAttempt

    def service_check(registration: PhoneRegistration, ip: str) -> None:
        attempt = services.check_code(registration, "123-456", ip=ip, channel="api")
        assert attempt.outcome == "accepted", (attempt.outcome, attempt.result_message)

    phones = PhoneSource(start=10_000_000)
    samples: dict[str, list[float]] = {"bare": [], "client": [], "floor": [], "service": []}
    floor_registrations: list[int] = []
    with loopback_server() as server:
        session = requests.Session()
        client = NXCloudClient.from_settings()  # its own kept-alive session, as get_client() keeps
        floor = Floor(client)
        try:
            for index in range(iterations + warmup):
                mine, theirs = fresh_registration(phones), fresh_registration(phones)
                ip = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
                floor_ip = f"10.{128 + index // 65536 % 128}.{index // 256 % 256}.{index % 256}"
                digest = code_digest(theirs, "123456")

                sides: list[tuple[str, Callable[..., object], tuple[Any, ...]]] = [
                    ("bare", bare_check, (session, server.base_url, mine.phone_number, "123456")),
                    ("client", client.check_code, (mine.phone_number, "123456")),
                    ("floor", floor.check, (theirs.pk, theirs.phone_number, "123456", floor_ip, digest)),
                    ("service", service_check, (mine, ip)),
                ]
                shift = index % len(sides)
                for name, run, run_args in sides[shift:] + sides[:shift]:
                    started = time.perf_counter()
                    run(*run_args)
                    elapsed = time.perf_counter() - started
                    if index >= warmup:
                        samples[name].append(elapsed)
                floor_registrations.append(theirs.pk)
        finally:
            floor.close()
    # The floor did the real work: every one of its registrations verified by an accepted attempt.
    verified = PhoneRegistration.objects.filter(pk__in=floor_registrations, verified_at__isnull=False)
    assert verified.count() == len(floor_registrations), "the floor did not verify its registrations"
    accepted = VerificationAttempt.objects.filter(
        registration__in=floor_registrations, outcome="accepted", code_request__isnull=False
    )
    assert accepted.count() == len(floor_registrations), "the floor's attempts are not all accepted"
    rows = {name: summary_ms(values) for name, values in samples.items()}
    bare, client_row, floor_row, service = rows["bare"], rows["client"], rows["floor"], rows["service"]
    return {
        "n": iterations,
        "bare": bare,
        "client": client_row,
        "floor": floor_row,
        "service": service,
        "median_ratio": ratio(service["median_ms"], bare["median_ms"]),
        "p99_ratio": ratio(service["p99_ms"], bare["p99_ms"]),
        "overhead_median_ms": round(service["median_ms"] - bare["median_ms"], 3),
        "floor_median_ratio": ratio(service["median_ms"], floor_row["median_ms"]),
        "floor_p99_ratio": ratio(service["p99_ms"], floor_row["p99_ms"]),
        "over_floor_median_ms": round(service["median_ms"] - floor_row["median_ms"], 3),
        "client_median_ratio": ratio(service["median_ms"], client_row["median_ms"]),
        "floor_vs_bare_median_ratio": ratio(floor_row["median_ms"], bare["median_ms"]),
    }


def bench_overhead_with_latency(iterations: int, latency: float) -> Row:
    """The same comparison against a stand-in that takes ``latency`` seconds, like a real API."""
    import requests

    from nxwa_onboarding import services
    from tests.helpers.loopback import Behaviour

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
    from tests.helpers.loopback import result

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

    import nxwa_onboarding

    info["django"] = django.get_version()
    # Which checkout was measured (the worktree's package, not another one installed editable).
    info["package"] = str(Path(nxwa_onboarding.__file__).resolve().parent)
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
        add("### Verification: services.check_code against a bare signed POST and against the floor")
        add("")
        add(
            "Loopback NXCloud stand-in; n interleaved samples per side after 20 warm-up rounds. "
            "bare POST: requests, signed by hand, kept-alive session. client call: one "
            "`NXCloudClient.check_code`. floor: the write-ahead guarantee's minimum SQL on a bare "
            "driver connection (INSERT the pending attempt + one rules SELECT, COMMIT; the client "
            "call; UPDATE the attempt + UPDATE the registration, COMMIT), no Django."
        )
        add("")
        add(
            "| database | check_code against | n | baseline median | check_code median | ratio "
            "| baseline p99 | check_code p99 | p99 ratio | goal |"
        )
        add("|---|---|---|---|---|---|---|---|---|---|")

        def versus(db: str, label: str, n: Any, base: Row, service: Row, target: str = "") -> None:
            add(
                f"| {db} | {label} | {n} | {base['median_ms']:.3f} ms | {service['median_ms']:.3f} ms | "
                f"{ratio(service['median_ms'], base['median_ms']):.2f}x | {base['p99_ms']:.3f} ms | "
                f"{service['p99_ms']:.3f} ms | {ratio(service['p99_ms'], base['p99_ms']):.2f}x | {target} |"
            )

        for db, row in results["overhead"].items():
            n = row.get("n", row["service"]["n"])
            target = goal(row["median_ratio"] <= 1.5) if db == "postgresql" else "-"
            versus(db, "bare POST", n, row["bare"], row["service"], target)
            if "floor" in row:
                versus(db, "floor (SQL + client call)", n, row["floor"], row["service"])
                versus(db, "client call", n, row["client"], row["service"])
        for db, row in results.get("overhead_latency", {}).items():
            add(
                f"| {db}, NXCloud taking {row['latency_ms']:.0f} ms | bare POST | {row['service']['n']} | "
                f"{row['bare']['median_ms']:.1f} ms | {row['service']['median_ms']:.1f} ms | "
                f"{row['median_ratio']:.2f}x | | | | |"
            )
        add("")
        for db, row in results["overhead"].items():
            if "floor" in row:
                add(
                    f"Floor on {db}: median {row['floor']['median_ms']:.3f} ms, "
                    f"{row['floor_vs_bare_median_ratio']:.2f}x the bare POST; check_code is "
                    f"{row['over_floor_median_ms']:.3f} ms above it (medians of {row['n']})."
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
    if "funnel" in results:
        from benchmarks.funnel import render_funnel

        lines.extend(render_funnel(results["funnel"], goal))
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
    if "api" in results:
        render_api(results["api"], add)
    if "throughput" in results:
        from benchmarks.throughput import render_throughput

        render_throughput(results["throughput"], add)
    return "\n".join(lines)


def render_api(api: Row, add: Callable[[str], None]) -> None:
    if "skipped" in api:
        add(f"### JSON API under load: skipped ({api['skipped']})")
        add("")
        return
    add(
        f"### JSON API under load: gunicorn ({api['workers']} workers), "
        f"{api['threads']} client threads, {api['seconds']:.0f} s"
    )
    add("")
    add("| endpoint | requests | RPS | p50 | p99 | 5xx | RPS vs trivial view |")
    add("|---|---|---|---|---|---|---|")
    for name, row in api["pages"].items():
        add(
            f"| {name} | {row['requests']} | {row['rps']:.0f} | {row['p50_ms']:.1f} ms | "
            f"{row['p99_ms']:.1f} ms | {row['errors_5xx']} | {row['rps_vs_trivial']:.2f} |"
        )
    add("")
    add(
        f"Code submissions: {api['submissions']}, attempt rows: {api['attempt_rows']}, "
        f"lost: {api['lost_attempts']}; 5xx in total: {api['total_5xx']}"
    )
    add("")


SECTIONS = ("overhead", "check_code", "queries", "admin", "funnel", "load", "api", "throughput")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations, smaller admin data")
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS,
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
    wanted = set(args.only or ["overhead", "queries", "admin", "funnel", "load", "api", "throughput"])
    started = time.monotonic()

    from django.db import connection

    old_name = os.environ.get("DATABASE_URL", "")
    vendor = setup_django()
    results: Row = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    sections: dict[str, float] = {}
    results["sections_s"] = sections

    @contextmanager
    def timed(name: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            sections[name] = round(time.monotonic() - began, 1)

    print(f"measuring {results['machine']['package']}", file=sys.stderr)
    try:
        if "overhead" in wanted or "check_code" in wanted:
            print(f"check_code against the bare POST and the floor on {vendor} ...", file=sys.stderr)
            with timed("check_code"):
                results["overhead"] = {vendor: bench_overhead(iterations)}
        if "overhead" in wanted:
            if vendor != "sqlite":
                print("the same on sqlite ...", file=sys.stderr)
                with timed("check_code on sqlite"), tempfile.TemporaryDirectory() as tmp:
                    results["overhead"]["sqlite"] = run_child(
                        "overhead",
                        {
                            "DATABASE_URL": f"sqlite:///{tmp}/unused.sqlite3",
                            "NXWA_BENCH_SQLITE": f"{tmp}/bench.sqlite3",
                        },
                        ["--iterations", str(iterations)],
                    )
            with timed("check_code with latency"):
                results["overhead_latency"] = {vendor: bench_overhead_with_latency(40, 0.05)}
        if "queries" in wanted:
            print("queries and connections ...", file=sys.stderr)
            with timed("queries"):
                results["queries"] = bench_queries()
                results["connections"] = bench_connections()
        if "admin" in wanted:
            from benchmarks.scale import bench_admin

            print("admin at scale ...", file=sys.stderr)
            with timed("admin"):
                results["admin"] = bench_admin(quick=args.quick)
        if "funnel" in wanted:
            from benchmarks.funnel import bench_funnel

            print("the funnel page at scale ...", file=sys.stderr)
            with timed("funnel"):
                results["funnel"] = bench_funnel(quick=args.quick)
        if "load" in wanted:
            from benchmarks.load import bench_load

            print("customer pages under load ...", file=sys.stderr)
            with timed("load"):
                results["load"] = bench_load(
                    seconds=5 if args.quick else 15, db_name=str(connection.settings_dict["NAME"])
                )
        if "api" in wanted:
            from benchmarks.api_load import bench_api_load

            print("the JSON API under load ...", file=sys.stderr)
            with timed("api"):
                results["api"] = bench_api_load(
                    seconds=5 if args.quick else 15, db_name=str(connection.settings_dict["NAME"])
                )
        if "throughput" in wanted:
            from benchmarks.throughput import bench_throughput

            print("status page and code submission at 5,000 and 500,000 attempts ...", file=sys.stderr)
            with timed("throughput"):
                results["throughput"] = bench_throughput(
                    seconds=4 if args.quick else 8,
                    db_name=str(connection.settings_dict["NAME"]),
                    quick=args.quick,
                )
    finally:
        teardown_django()
    del old_name
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    table = render(results)
    print(table)
    parts = ", ".join(f"{name} {seconds} s" for name, seconds in sections.items())
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
