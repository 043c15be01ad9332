"""The onboarding funnel page with 100,000 registrations (and their sends and attempts).

Seeded in bulk by ``scale.generate`` (PostgreSQL COPY): one code request and five attempts per
registration, spread one a minute over the last ~70 days, so the default period (the last 30
days) holds ~43,000 registrations and a 90-day period all of them. Goal: under 200 ms a page.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from typing import Any

from benchmarks.scale import LARGE_REGISTRATIONS, RENDERS, generate

GOAL_MS = 200.0


def bench_funnel(*, quick: bool = False) -> dict[str, Any]:
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from nxwa_onboarding.admin import funnel_stats
    from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt

    if connection.vendor != "postgresql":
        return {"skipped": "needs PostgreSQL (COPY)"}
    if not admin.site.is_registered(PhoneRegistration):
        return {"skipped": "the admin is not registered"}
    size = 10_000 if quick else LARGE_REGISTRATIONS
    user = get_user_model().objects.create_superuser("bench-funnel", password="bench-funnel-pw")
    client = Client()
    client.force_login(user)
    started = time.monotonic()
    generate(0, size, timezone.now())
    generation_s = time.monotonic() - started
    today = timezone.localdate()
    wide = funnel_stats.Period(today - timedelta(days=89), today)
    periods = {
        "last 30 days (default)": ({}, funnel_stats.Period.last_days(30, today)),
        "last 90 days (every row)": ({"date_from": str(wide.first), "date_to": str(wide.last)}, wide),
    }
    url = reverse("admin:nxwa_onboarding_funnel")
    rows: dict[str, dict[str, Any]] = {}
    for name, (params, period) in periods.items():
        assert client.get(url, params).status_code == 200  # warm-up: templates, plans
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            client.get(url, params)
        query_count = len(queries)
        times = []
        for _ in range(RENDERS):
            began = time.perf_counter()
            response = client.get(url, params)
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200
        computed = []
        for _ in range(RENDERS):
            began = time.perf_counter()
            result = funnel_stats.funnel(period)
            computed.append((time.perf_counter() - began) * 1000)
        rows[name] = {
            "cohort": result.counts["started"],
            "queries": query_count,
            "page_median_ms": round(statistics.median(times), 2),
            "numbers_median_ms": round(statistics.median(computed), 2),
        }
    return {
        "registrations": PhoneRegistration.objects.count(),
        "code_requests": CodeRequest.objects.count(),
        "attempts": VerificationAttempt.objects.count(),
        "generation_s": round(generation_s, 1),
        "goal_ms": GOAL_MS,
        "periods": rows,
    }


def render_funnel(result: dict[str, Any], goal: Any) -> list[str]:
    if "skipped" in result:
        return [f"### Funnel page: skipped ({result['skipped']})", ""]
    lines = [
        f"### Funnel page: {result['registrations']:,} registrations, {result['code_requests']:,} code "
        f"requests, {result['attempts']:,} attempts",
        "",
        "| period | cohort | queries (page) | page median | numbers median | goal |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in result["periods"].items():
        ok = row["page_median_ms"] < result["goal_ms"]
        lines.append(
            f"| {name} | {row['cohort']:,} | {row['queries']} | {row['page_median_ms']:.1f} ms | "
            f"{row['numbers_median_ms']:.1f} ms | {goal(ok)} |"
        )
    lines += ["", f"Bulk generation: {result['generation_s']:.1f} s", ""]
    return lines
