"""The metrics scrape (``nxwa_onboarding.ops.metrics``) at 100,000 registrations: its queries and
its time, on PostgreSQL.

The rows come from ``benchmarks/scale.py``'s generator (COPY: 100,000 registrations, a code
request each, five attempts each, spread a minute apart back from now, so the last day holds
1,440 of each), plus 2,000 webhook deliveries and a follower's state. The scrape is timed through
the collector (what a host's own ``/metrics`` does) and through ``metrics/`` (the view: the
bearer check and the text format on top). Usage:
``DATABASE_URL=postgres://… python benchmarks/metrics_scrape.py [--quick] [--registrations N]``
(``--quick``: 10,000 registrations, fewer timed scrapes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

from benchmarks.common import setup_django, teardown_django  # noqa: E402

TOKEN = "bench-metrics-token-0123456789abcdefghijklmnop"


def timed(render: Any, times: int) -> dict[str, float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        render()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}


def bench(registrations: int, scrapes: int) -> dict[str, Any]:
    from django.conf import settings
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from prometheus_client import generate_latest

    from benchmarks.scale import generate
    from nxwa_onboarding.models import Application, FollowState, PhoneRegistration, WebhookDelivery
    from nxwa_onboarding.ops.metrics import registry

    if connection.vendor != "postgresql":
        return {"skipped": "needs PostgreSQL (COPY)"}
    now = timezone.now()
    started = time.monotonic()
    generate(0, registrations, now)
    application = Application.objects.default()
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(application=application, outcome=("applied", "unmatched")[i % 2], dedupe_key=str(i))
        for i in range(2000)
    )
    FollowState.objects.create(app_key="bench-app-key", steps=10, last_step_at=now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    generation_s = time.monotonic() - started

    collected = registry()
    generate_latest(collected)  # warm-up: plans, imports
    with CaptureQueriesContext(connection) as queries:
        text = generate_latest(collected)
    query_count = len(queries)
    # Each query's own time (one scrape, so a rough figure), the slowest first.
    per_query = sorted(
        (
            (round(float(q["time"]) * 1000, 1), " ".join(q["sql"].split())[:90])
            for q in queries.captured_queries
        ),
        reverse=True,
    )
    collector = timed(lambda: generate_latest(collected), scrapes)

    client = Client()
    nxwa = {**settings.NXWA_ONBOARDING, "OPS_TOKEN": TOKEN}
    with override_settings(NXWA_ONBOARDING=nxwa, ROOT_URLCONF="benchmarks.metrics_urls"):
        response = client.get("/nxwa/ops/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.status_code
        view = timed(lambda: client.get("/nxwa/ops/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"), scrapes)
    return {
        "registrations": PhoneRegistration.objects.count(),
        "generation_s": round(generation_s, 1),
        "queries": query_count,
        "per_query_ms": per_query,
        "collector": collector,
        "view": view,
        "scrapes": scrapes,
        "bytes": len(text),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10,000 registrations, 5 timed scrapes")
    parser.add_argument("--registrations", type=int, default=None)
    args = parser.parse_args(argv)
    registrations = args.registrations or (10_000 if args.quick else 100_000)
    scrapes = 5 if args.quick else 21
    setup_django()
    try:
        result = bench(registrations, scrapes)
    finally:
        teardown_django()
    print(json.dumps(result, indent=2))
    if "skipped" in result:
        return 0
    print(
        f"metrics scrape at {result['registrations']:,} registrations: {result['queries']} queries, "
        f"collector median {result['collector']['median_ms']} ms, "
        f"metrics/ median {result['view']['median_ms']} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
