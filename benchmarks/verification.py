"""Section ``check_code`` (and ``overhead``): ``services.check_code`` end to end, interleaved with
three baselines against the same loopback NXCloud stand-in: a bare signed POST on a kept-alive
session, one call of the app's client, and the floor (``Floor``: the write-ahead guarantee's
minimum SQL on a bare driver connection around that one client call)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import (
    PhoneSource,
    Row,
    fresh_registration,
    loopback_server,
    ratio,
    summary_ms,
)

# -- 1. verification overhead ----------------------------------------------------------------------


def bare_check(session: Any, base_url: str, phone: str, code: str) -> None:
    """The minimum any integration does: serialise, sign, POST on a kept-alive session, read JSON."""
    from nxwa_onboarding.conf import conf
    from nxwa_onboarding.nxcloud.signing import compute_sign

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
    from nxwa_onboarding.codes import code_digest
    from nxwa_onboarding.models import PhoneRegistration, VerificationAttempt
    from nxwa_onboarding.nxcloud.client import NXCloudClient

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

    from harness.loopback import Behaviour
    from nxwa_onboarding import services

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
