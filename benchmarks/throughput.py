"""The status page and the code submission under load, at 5,000 and at 500,000 attempts.

Issue 13's goal: each at least 0.3x the requests per second of a trivial Django view served by
the same gunicorn in the same run, and flat whether the audit tables hold 5,000 or 500,000
attempts. Unlike ``load.py`` (limits out of the way, every request from 127.0.0.1), this is
production's shape: every rule limit at its default, 320 signed-in merchants owning up to ten
registrations each (as many as the default limits let one customer send codes to in a day), each
registration's customer at its own address (``X-Forwarded-For``, read by
``benchmarks.addresses``), the database Tasks backend (an accepted check enqueues the client
creation; no worker runs), and the history of the audit
tables generated in bulk (``scale.generate``: registrations a minute apart going back in time,
one code request and five attempts each, from 10.x.y.z addresses).

For each size, two servers: PostgreSQL's prepared statements off (Django's default) and on
(OPTIONS ``prepare_threshold``: docs/explanation/performance.md). The rule reads' plans at each size are
listed too: any sequential scan of the audit tables, and the statement's time.
"""

from __future__ import annotations

import queue
import random
import time
from typing import Any

import requests

from benchmarks.load import (
    THREADS,
    TRIVIAL,
    WORKERS,
    post_form,
    run_phases,
    served,
    signed_in_session,
    with_code_sent,
)

PASSWORD = "bench-merchant-pw"
SIZES = {"small": 1_000, "large": 100_000}  # registrations of history; five attempts each
QUICK_SIZES = {"small": 1_000, "large": 10_000}
MERCHANTS_PER_SERVER = 3000


def address(index: int) -> str:
    """A customer's address in the benchmarking range (RFC 2544: 198.18.0.0/15)."""
    return f"198.{18 + index // 65536 % 2}.{index // 256 % 256}.{index % 256}"


#: Merchants per client thread: each signs in once and owns up to ten of the registrations, as
#: the default limits allow one customer (MAX_SENDS_PER_OWNER_PER_DAY).
MERCHANTS_PER_THREAD = 40


def merchant_name(thread: int, n: int) -> str:
    return f"bench-merchant-{thread}-{n}"


def merchants(first: int, count: int) -> list[list[tuple[str, Any, str]]]:
    """``count`` registrations with a code sent just now, owned in turn by THREADS x
    MERCHANTS_PER_THREAD merchants; per client thread, (merchant, registration, its address)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    model = get_user_model()
    names = [merchant_name(t, n) for n in range(MERCHANTS_PER_THREAD) for t in range(THREADS)]
    password = make_password(PASSWORD)
    model.objects.bulk_create(
        [model(username=name, password=password) for name in names], ignore_conflicts=True
    )
    users = {user.username: user for user in model.objects.filter(username__in=names)}
    owners = [users[names[i % len(names)]] for i in range(count)]
    addresses = [address(first + i) for i in range(count)]
    # 86134: numbers no other section of ``make bench`` uses (load 86137, the API 86135).
    numbers = [f"86134{first + i:08d}" for i in range(count)]
    registrations = with_code_sent(owners, numbers, addresses=addresses)
    owned: list[list[tuple[str, Any, str]]] = [[] for _ in range(THREADS)]
    for i, registration in enumerate(registrations):
        owned[i % len(names) % THREADS].append((owners[i].username, registration, address(first + i)))
    return owned


def plans(registration: Any, ip: str) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the status page's rule read and of a check's: sequential scans of the
    app's tables (goal: none) and the execution time."""
    from django.db import connection
    from django.utils import timezone

    from nxwa_onboarding.choices import Channel
    from nxwa_onboarding.services import sql, state
    from nxwa_onboarding.services.rules import Limits

    scope = state.scope_for(registration, channel=Channel.CUSTOMER, ip=ip)
    limits, now, alias = Limits.from_settings(), timezone.now(), connection.alias
    check = sql._check_params(registration.pk, scope.check_block, limits, now, None, alias)
    send = sql._send_params(registration, scope, limits, now, None, alias)
    statements = {
        "status page": (sql._state_sql(alias, True, True, True), {**check, **send}),
        "check": (sql._check_sql(alias, True, False), check),
    }
    found: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for name, (text, params) in statements.items():
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + text, params)
            (plan,) = cursor.fetchone()
            scans: list[str] = []

            def walk(node: dict[str, Any], scans: list[str] = scans) -> None:
                if node.get("Node Type") == "Seq Scan" and "nxwa_onboarding" in node.get("Relation Name", ""):
                    scans.append(node["Relation Name"])
                for child in node.get("Plans", []):
                    walk(child)

            walk(plan[0]["Plan"])
            found[name] = {
                "seq_scans": sorted(set(scans)),
                "execution_ms": round(plan[0]["Execution Time"], 3),
                "planning_ms": round(plan[0]["Planning Time"], 3),
            }
    return found


def measure(
    db_name: str, owned: list[list[tuple[str, Any, str]]], seconds: float, prepare: bool
) -> dict[str, Any]:
    """One server: the trivial view, the status page, the code submission."""
    from django.urls import reverse

    env = {"NXWA_BENCH_LIMITS": "defaults", "NXWA_BENCH_TASKS": "db"}
    if prepare:
        env["NXWA_BENCH_PREPARE"] = "5"
    with served(db_name, env) as base:
        names = {name for mine in owned for name, _, _ in mine}
        signed_in = {name: signed_in_session(base, name, PASSWORD) for name in sorted(names)}
        sessions = [requests.Session() for _ in range(THREADS)]  # run_phases'; unused here
        pending: list[queue.SimpleQueue[tuple[str, Any, str]]] = []
        for mine in owned:
            waiting: queue.SimpleQueue[tuple[str, Any, str]] = queue.SimpleQueue()
            for item in mine:
                waiting.put(item)
            pending.append(waiting)
        submitted: list[Any] = []
        rng = random.Random(13)

        def trivial(session: requests.Session, index: int) -> requests.Response:
            return signed_in[owned[index][0][0]].get(base + "/bench/trivial/", timeout=30)

        def status_page(session: requests.Session, index: int) -> requests.Response:
            name, registration, ip = rng.choice(owned[index])
            url = base + registration.get_absolute_url()
            return signed_in[name].get(url, headers={"X-Forwarded-For": ip}, timeout=30)

        def submit_code(session: requests.Session, index: int) -> requests.Response | None:
            try:
                name, registration, ip = pending[index].get_nowait()
            except queue.Empty:
                return None
            session = signed_in[name]
            submitted.append(registration)
            url = base + reverse("nxwa_onboarding:check", kwargs={"public_id": registration.public_id})
            return post_form(session, url, {"code": "123 456"}, {"X-Forwarded-For": ip})

        named = [
            (TRIVIAL, trivial),
            ("status page (GET)", status_page),
            ("code submission (POST)", submit_code),
        ]
        rows = run_phases(named, sessions, seconds, digits=3)
    return {"pages": rows, "submitted": [r.pk for r in submitted]}


def bench_throughput(*, seconds: float, db_name: str, quick: bool = False) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    from benchmarks.scale import generate
    from nxwa_onboarding.models import PhoneRegistration, VerificationAttempt

    if connection.vendor != "postgresql":
        return {"skipped": "needs PostgreSQL (the history is generated with COPY)"}
    sizes = QUICK_SIZES if quick else SIZES
    result: dict[str, Any] = {"workers": WORKERS, "threads": THREADS, "seconds": seconds, "sizes": {}}
    now, generated, first = timezone.now(), 0, 0
    for label, registrations in sizes.items():
        started = time.monotonic()
        generate(generated, registrations, now)
        generated = registrations
        size: dict[str, Any] = {
            "attempts": VerificationAttempt.objects.count(),
            "generation_s": round(time.monotonic() - started, 1),
        }
        for prepare in (False, True):
            owned = merchants(first, MERCHANTS_PER_SERVER)
            first += MERCHANTS_PER_SERVER
            run = measure(db_name, owned, seconds, prepare)
            submitted = run.pop("submitted")
            attempts = VerificationAttempt.objects.filter(registration__in=submitted)
            run["submissions"] = len(submitted)
            run["attempt_rows"] = attempts.count()
            run["accepted"] = attempts.filter(outcome=VerificationAttempt.Outcome.ACCEPTED).count()
            run["verified"] = PhoneRegistration.objects.filter(
                pk__in=submitted, status=PhoneRegistration.Status.VERIFIED
            ).count()
            run["total_5xx"] = sum(row["errors_5xx"] for row in run["pages"].values())
            size["prepared" if prepare else "unprepared"] = run
            _, registration, ip = owned[0][-1]
            size["plans"] = plans(registration, ip)
        result["sizes"][label] = size
    small, large = result["sizes"]["small"], result["sizes"]["large"]
    result["flatness"] = {
        f"{mode} {page}": round(
            large[mode]["pages"][page]["rps_vs_trivial"] / small[mode]["pages"][page]["rps_vs_trivial"], 2
        )
        for mode in ("unprepared", "prepared")
        for page in ("status page (GET)", "code submission (POST)")
        if small[mode]["pages"][page]["rps_vs_trivial"]
    }
    return result


def render_throughput(result: dict[str, Any], add: Any) -> None:
    if "skipped" in result:
        add(f"### Status page and code submission at scale: skipped ({result['skipped']})")
        add("")
        return
    add(
        f"### Status page and code submission at scale: gunicorn ({result['workers']} workers), "
        f"{result['threads']} client threads, {result['seconds']:.0f} s a page; limits at their defaults"
    )
    add("")
    add("| attempts | prepared statements | page | RPS | p50 | 5xx | RPS vs trivial view | goal |")
    add("|---|---|---|---|---|---|---|---|")
    for size in result["sizes"].values():
        for mode in ("unprepared", "prepared"):
            for page, row in size[mode]["pages"].items():
                goal = (
                    "" if page.startswith("trivial") else ("ok" if row["rps_vs_trivial"] >= 0.3 else "MISSED")
                )
                add(
                    f"| {size['attempts']:,} | {'on' if mode == 'prepared' else 'off'} | {page} | "
                    f"{row['rps']:.0f} | {row['p50_ms']:.1f} ms | {row['errors_5xx']} | "
                    f"{row['rps_vs_trivial']:.2f} | {goal} |"
                )
    add("")
    flat = ", ".join(f"{name} {ratio}x" for name, ratio in result["flatness"].items())
    add(f"Large / small (goal about 1.0): {flat}")
    for label, size in result["sizes"].items():
        plans = "; ".join(
            f"{name}: {plan['execution_ms']} ms running, {plan['planning_ms']} ms planning, "
            f"sequential scans {plan['seq_scans'] or 'none'}"
            for name, plan in size["plans"].items()
        )
        runs = [size[mode] for mode in ("unprepared", "prepared")]
        rows = ", ".join(
            f"{run['submissions']} submitted, {run['attempt_rows']} attempts, {run['verified']} verified"
            for run in runs
        )
        add(f"At {size['attempts']:,} attempts ({label}): {plans}. Submissions: {rows}.")
    add("")
