"""The admin changelists at 1,000 registrations and at 100,000 (with 500,000 attempts).

Rows are generated in bulk with PostgreSQL's COPY: the columns come from the models, so the
generator follows model changes; every field not set here takes its default.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

SMALL_REGISTRATIONS = 1_000
LARGE_REGISTRATIONS = 100_000
ATTEMPTS_PER_REGISTRATION = 5
RENDERS = 9

PAGES = {
    "registrations": "admin:nxwa_onboarding_phoneregistration_changelist",
    "attempts": "admin:nxwa_onboarding_verificationattempt_changelist",
    "code requests": "admin:nxwa_onboarding_coderequest_changelist",
}


def _copy(model: Any, rows: Iterator[dict[str, Any]]) -> int:
    """COPY ``rows`` (dicts of attnames) into ``model``'s table; unset fields take their default."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in fields}
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                values = {**defaults, **row}
                copy.write_row([values[f.attname] for f in fields])
                count += 1
    return count


def generate(first: int, last: int, now: datetime) -> tuple[int, int, int]:
    """Registrations ``first``..``last - 1``, one code request each, five attempts each."""
    from django.db import connection, transaction

    from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt

    statuses = ["code_sent", "verified", "registered", "failed", "new", "client_created"]
    outcomes = ["rejected", "rejected", "refused", "unknown", "accepted"]

    def at(index: int) -> datetime:
        return now - timedelta(minutes=index)

    def registrations() -> Iterator[dict[str, Any]]:
        for i in range(first, last):
            status = statuses[i % len(statuses)]
            yield {
                "public_id": uuid.uuid4(),
                "phone_number": f"86139{i:08d}",
                "status": status,
                "last_code_method": "sms",
                "created_at": at(i),
                "updated_at": at(i),
                "code_sent_at": at(i),
                # Minutes apart, so the funnel's medians have times to find.
                "verified_at": at(i) + timedelta(minutes=2 + i % 7)
                if status in ("verified", "registered", "client_created")
                else None,
                "registered_at": at(i) + timedelta(minutes=15 + i % 11) if status == "registered" else None,
            }

    with transaction.atomic():
        made = _copy(PhoneRegistration, registrations())
        ids = dict(
            PhoneRegistration.objects.filter(phone_number__startswith="86139").values_list(
                "phone_number", "pk"
            )
        )
        reg_ids = [ids[f"86139{i:08d}"] for i in range(first, last)]

        def code_requests() -> Iterator[dict[str, Any]]:
            for i, reg_id in zip(range(first, last), reg_ids, strict=True):
                yield {
                    "registration_id": reg_id,
                    "method": "sms",
                    "channel": "customer",
                    "outcome": "sent",
                    "result_code": 0,
                    "http_status": 200,
                    "duration_ms": 180,
                    "created_at": at(i),
                    "finished_at": at(i),
                }

        sends = _copy(CodeRequest, code_requests())
        request_ids = dict(
            CodeRequest.objects.filter(registration_id__in=reg_ids).values_list("registration_id", "pk")
        )

        def attempts() -> Iterator[dict[str, Any]]:
            for i, reg_id in zip(range(first, last), reg_ids, strict=True):
                for n, outcome in enumerate(outcomes[:ATTEMPTS_PER_REGISTRATION]):
                    yield {
                        "registration_id": reg_id,
                        "code_request_id": request_ids[reg_id],
                        "channel": "customer",
                        "ip": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                        "code_digest": f"{i:032x}{n:032x}",
                        "outcome": outcome,
                        "refusal_reason": "too_many_attempts" if outcome == "refused" else "",
                        "result_code": {"accepted": 0, "rejected": 9001}.get(outcome),
                        "result_message": "Verification code is incorrect" if outcome == "rejected" else "",
                        "http_status": 200 if outcome in ("accepted", "rejected") else None,
                        "duration_ms": 150,
                        "created_at": at(i) + timedelta(seconds=n + 1),
                        "finished_at": at(i) + timedelta(seconds=n + 1),
                    }

        tries = _copy(VerificationAttempt, attempts())
    with connection.cursor() as cursor:
        for model in (PhoneRegistration, CodeRequest, VerificationAttempt):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return made, sends, tries


def measure_pages(client: Any) -> dict[str, dict[str, float]]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    rows: dict[str, dict[str, float]] = {}
    for page, name in PAGES.items():
        url = reverse(name)
        response = client.get(url)  # warm-up: templates, plans
        assert response.status_code == 200, (url, response.status_code)
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        # Counted now: the captured list is a slice of a log the next request clears.
        query_count = len(queries)
        times = []
        for _ in range(RENDERS):
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
        rows[page] = {"queries": query_count, "median_ms": statistics.median(times) * 1000}
    return rows


def bench_admin(*, quick: bool = False) -> dict[str, Any]:
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from nxwa_onboarding.models import PhoneRegistration, VerificationAttempt

    if connection.vendor != "postgresql":
        return {"skipped": "needs PostgreSQL (COPY)"}
    if not (admin.site.is_registered(PhoneRegistration) and admin.site.is_registered(VerificationAttempt)):
        return {"skipped": "the admin is not registered yet"}
    large = 10_000 if quick else LARGE_REGISTRATIONS
    user = get_user_model().objects.create_superuser("bench-admin", password="bench-admin-pw")
    client = Client()
    client.force_login(user)
    now = timezone.now()
    generate(0, SMALL_REGISTRATIONS, now)
    small = measure_pages(client)
    started = time.monotonic()
    generate(SMALL_REGISTRATIONS, large, now)
    generation_s = time.monotonic() - started
    big = measure_pages(client)
    pages: dict[str, dict[str, Any]] = {}
    for page in small:
        pages[page] = {
            "queries_small": small[page]["queries"],
            "queries_large": big[page]["queries"],
            "median_small_ms": round(small[page]["median_ms"], 2),
            "median_large_ms": round(big[page]["median_ms"], 2),
            "time_ratio": round(big[page]["median_ms"] / small[page]["median_ms"], 2),
        }
    counts: Callable[[Any], int] = lambda model: model.objects.count()  # noqa: E731
    return {
        "small": {"registrations": SMALL_REGISTRATIONS, "attempts": SMALL_REGISTRATIONS * 5},
        "large": {"registrations": counts(PhoneRegistration), "attempts": counts(VerificationAttempt)},
        "generation_s": round(generation_s, 1),
        "pages": pages,
    }
