"""The JSON API under the customer pages' load (``benchmarks/load.py``): the same gunicorn (2 sync
workers), PostgreSQL, loopback NXCloud and client threads, against the same trivial view.

Phases: the trivial Django view (the floor), the state endpoint (GET a registration) and the
code submission (POST ``check/`` with JSON and the CSRF header, each on a registration with a
code sent, accepted by the stand-in). Afterwards every submission must have its attempt row.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import requests

from benchmarks.load import (
    PASSWORD,
    THREADS,
    TRIVIAL,
    USERNAME,
    WORKERS,
    run_phases,
    served,
    signed_in_session,
    with_code_sent,
)

API = "/onboarding/api"


def prepare_api(count: int) -> list[Any]:
    """``count`` registrations of the bench customer with a code sent (numbers of their own)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=USERNAME).first()
    if user is None:
        user = get_user_model().objects.create_user(USERNAME, password=PASSWORD)
    return with_code_sent([user], [f"86135{i:08d}" for i in range(count)], channel="api")


def bench_api_load(*, seconds: float, db_name: str) -> dict[str, Any]:
    try:
        import ninja  # noqa: F401
    except ImportError:
        return {"skipped": "django-ninja is not installed (the api extra)"}
    from nxwa_onboarding.models import PhoneRegistration, VerificationAttempt

    registrations = prepare_api(6000 if seconds > 5 else 2000)
    with served(db_name) as base:
        sessions = [signed_in_session(base) for _ in range(THREADS)]
        pending: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for registration in registrations:
            pending.put(registration)
        submitted: list[Any] = []
        submitted_lock = threading.Lock()

        def trivial(session: requests.Session, index: int) -> requests.Response:
            return session.get(base + "/bench/trivial/", timeout=30)

        def state(session: requests.Session, index: int) -> requests.Response:
            registration = registrations[int(time.perf_counter() * 1e6) % len(registrations)]
            return session.get(f"{base}{API}/registrations/{registration.public_id}/", timeout=30)

        def submit_code(session: requests.Session, index: int) -> requests.Response | None:
            try:
                registration = pending.get_nowait()
            except queue.Empty:
                return None
            with submitted_lock:
                submitted.append(registration)
            return session.post(
                f"{base}{API}/registrations/{registration.public_id}/check/",
                json={"code": "123 456"},
                headers={"X-CSRFToken": session.cookies["csrftoken"]},
                timeout=30,
            )

        named = [(TRIVIAL, trivial), ("API state (GET)", state), ("API code submission (POST)", submit_code)]
        rows = run_phases(named, sessions, seconds)
    attempt_rows = VerificationAttempt.objects.filter(registration__in=[r.pk for r in submitted]).count()
    verified = PhoneRegistration.objects.filter(
        pk__in=[r.pk for r in submitted], status__in=("verified", "client_created")
    ).count()
    return {
        "workers": WORKERS,
        "threads": THREADS,
        "seconds": seconds,
        "pages": rows,
        "submissions": len(submitted),
        "attempt_rows": attempt_rows,
        "verified": verified,
        "lost_attempts": len(submitted) - attempt_rows,
        "total_5xx": sum(row["errors_5xx"] for row in rows.values()),
    }
