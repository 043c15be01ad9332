"""``make bench``, issue 13's part: following numbers, counted and timed in one run.

1. Polls and steps: registrations in progress across three applications, each customer's page
   polled; NXCloud calls made by the polls (goal 0) and by one following step (goal: one
   phoneList per application).
2. A phoneList pass over many listed numbers (100,000; ``--quick``: 5,000): queries and seconds
   when nothing changed and when everything changed.

Two gunicorn instances and two workers with 200 merchants verifying at once, for the database
backend and for RQ, are in ``benchmarks/cluster/run.py`` (also run by ``make bench``). The status page
and the code submission at 5,000 and 500,000 attempts: ``benchmarks/throughput.py``.

Usage: ``python benchmarks/follow.py [--quick]``; writes ``benchmarks/results/follow.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

from benchmarks.common import setup_django, teardown_django  # noqa: E402


def _registrations(count: int, status: str) -> list[Any]:
    from django.utils import timezone

    from nxwa_onboarding.models import PhoneRegistration

    now = timezone.now()
    rows = [
        PhoneRegistration(phone_number=f"86138{index:08d}", status=status, verified_at=now)
        for index in range(count)
    ]
    return PhoneRegistration.objects.bulk_create(rows, batch_size=2000)


def _listed(count: int, register_status: int) -> list[dict[str, Any]]:
    return [
        {
            "display_phone_number": f"+86 138 {index:08d}",
            "register_status": register_status,
            "status": "CONNECTED",
            "quality_rating": "GREEN",
        }
        for index in range(count)
    ]


def bench_polls(waiting: int, polls: int, applications: int = 3) -> dict[str, Any]:
    """Customers' pages polling while numbers wait under ``applications`` applications (the
    default one and two others); then one following pass."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from nxwa_onboarding import tasks
    from nxwa_onboarding.models import Application, PhoneRegistration
    from nxwa_onboarding.testing import fake_nxcloud

    made = _registrations(waiting, "client_created")
    owner = get_user_model().objects.create_user("bench-owner")
    PhoneRegistration.objects.update(owner=owner)
    browser = Client()
    browser.force_login(owner)
    with fake_nxcloud() as nxcloud:
        apps = [Application.objects.default()]
        for n in range(applications - 1):
            # As createApp leaves one (the benchmark project mounts no webhook URLs to create it).
            key = f"bench-app-key-{n}"
            nxcloud.apps[key] = f"bench application {n}"
            apps.append(
                Application.objects.create(
                    name=f"bench application {n}", app_key=key, outcome=Application.Outcome.CREATED
                )
            )
        for index, item in enumerate(made):
            application = apps[index % len(apps)]
            PhoneRegistration.objects.filter(pk=item.pk).update(application=application)
            nxcloud.start_client(item.phone_number)
            nxcloud.bind(item.phone_number, "" if application.is_default else application.app_key)
        before = len(nxcloud.calls)
        started = time.perf_counter()
        for index in range(polls):
            item = made[index % len(made)]
            url = reverse("nxwa_onboarding:refresh", kwargs={"public_id": item.public_id})
            browser.post(url, {"shown": "client_created"}, HTTP_X_REQUESTED_WITH="fetch")
        poll_seconds = time.perf_counter() - started
        by_polls = len(nxcloud.calls) - before
        tasks.follow_pass()
        step = nxcloud.calls[before + by_polls :]
    return {
        "waiting": waiting,
        "applications": len(apps),
        "polls": polls,
        "nxcloud_calls_by_polls": by_polls,
        "nxcloud_calls_per_step": len(step),
        "phone_list_app_keys_per_step": len({str(call.payload.get("appkey")) for call in step}),
        "poll_ms_mean": round(1000 * poll_seconds / max(polls, 1), 2),
    }


def bench_sync(listed: int) -> dict[str, Any]:
    """One phoneList pass over ``listed`` numbers: nothing changed, then everything changed."""
    import responses
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from nxwa_onboarding import services
    from nxwa_onboarding.conf import conf
    from nxwa_onboarding.nxcloud.client import REGISTER_PREFIX

    phone_list_url = conf.BASE_URL + REGISTER_PREFIX + "phoneList"

    _registrations(listed, "client_created")
    result: dict[str, Any] = {"listed": listed}
    for label, register_status in (
        ("first pass (all changed)", 4),
        ("nothing changed", 4),
        ("all changed", 5),
    ):
        reset_queries()  # a full log (9,000 entries, the polls') would capture nothing
        with (
            responses.RequestsMock(assert_all_requests_are_fired=False) as rsps,
            CaptureQueriesContext(connection) as queries,
        ):
            listing = _listed(listed, register_status)
            rsps.post(phone_list_url, json={"code": 0, "message": "ok", "data": listing})
            started = time.perf_counter()
            summary = services.sync_statuses()
            seconds = time.perf_counter() - started
        assert isinstance(rsps, responses.RequestsMock)
        writes = [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]
        result[label] = {
            "seconds": round(seconds, 3),
            "queries": len(queries.captured_queries),
            "updates": len(writes),
            "changed": len(summary.changed),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not a measurement")
    parser.add_argument("--only", choices=("polls", "sync"), help="run one of the two parts")
    args = parser.parse_args(argv)
    setup_django()
    from django.conf import settings
    from django.test.utils import override_settings

    try:
        with override_settings(DEBUG=True, ALLOWED_HOSTS=["*"]):
            settings.DEBUG = True  # CaptureQueriesContext records only with debug cursors on
            results: dict[str, Any] = {"quick": args.quick}
            if args.only in (None, "polls"):
                results["polls"] = bench_polls(100 if args.quick else 1000, 200 if args.quick else 2000)
            from nxwa_onboarding.models import PhoneRegistration

            PhoneRegistration.objects.all().delete()
            wire = {**settings.NXWA_ONBOARDING, "BASE_URL": "https://api2.nxcloud.com"}
            if args.only in (None, "sync"):
                with override_settings(NXWA_ONBOARDING=wire):  # what tests.helpers.services mocks
                    results["sync"] = bench_sync(5000 if args.quick else 100_000)
    finally:
        teardown_django()
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "follow.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
