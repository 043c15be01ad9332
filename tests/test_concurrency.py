"""Concurrent submissions for one registration, on PostgreSQL: 50 threads, each with its own
database connection, against a loopback NXCloud that holds every call for 0.2 s.

Nothing doubled: of 50 simultaneous right codes exactly one checkCode reaches the server and
exactly one attempt is accepted, the others are refused (in flight, or already verified); 50
threads submitting wrong codes until they are stopped make exactly MAX_CHECK_ATTEMPTS calls;
50 simultaneous sends make one getCode.

SQLite serialises every writer on one database lock, so this race cannot be staged there:
these tests run whenever DATABASE_URL is PostgreSQL (`make test-postgres`, CI) and are
skipped, saying so, on SQLite.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connection

from nxwa_onboarding import services, signals
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, RefusalReason, VerificationAttempt

from .loopback import LoopbackNXCloud, result
from .service_helpers import CODE, WRONG, caught, new_registration, rules, with_code

T = TypeVar("T")
THREADS = 50
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not ON_POSTGRES,
        reason="needs PostgreSQL (row-level concurrency; SQLite serialises writers): "
        "run with DATABASE_URL=postgres://... (make test-postgres)",
    ),
]


def in_threads(work: Callable[[int], T], count: int = THREADS) -> list[T]:
    """Run ``work(i)`` in ``count`` threads released together; each uses (and closes) its own
    database connection. Any exception in a thread fails the test."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            connection.ensure_connection()  # open this thread's own connection before the start
            barrier.wait(timeout=60)
            results[index] = work(index)
        except BaseException as err:
            errors.append(err)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,), name=f"submit-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    assert not errors, errors
    return results


def test_fifty_right_codes_at_once_make_exactly_one_call() -> None:
    registration = with_code()
    with (
        LoopbackNXCloud(hold=0.2) as server,
        rules(BASE_URL=server.base_url),
        caught(signals.code_verified) as verified,
    ):
        attempts = in_threads(
            lambda i: services.check_code(
                PhoneRegistration.objects.get(pk=registration.pk), CODE, ip=f"192.0.2.{i + 1}"
            )
        )
        assert len(server.calls("checkCode")) == 1
        assert len(server.calls()) == 1

    outcomes = Counter(attempt.outcome for attempt in attempts)
    assert outcomes["accepted"] == 1, outcomes
    assert outcomes["refused"] == THREADS - 1, outcomes
    reasons = Counter(attempt.refusal_reason for attempt in attempts if attempt.outcome == "refused")
    assert set(reasons) <= {RefusalReason.IN_FLIGHT, RefusalReason.ALREADY_VERIFIED}, reasons
    # the database agrees with what the callers were told
    stored = Counter(VerificationAttempt.objects.values_list("outcome", flat=True))
    assert stored == Counter({"accepted": 1, "refused": THREADS - 1})
    registration.refresh_from_db()
    assert registration.status == PhoneRegistration.Status.VERIFIED
    assert len(verified) == 1


def test_fifty_wrong_codes_make_at_most_max_check_attempts_calls() -> None:
    """Every thread keeps submitting while it is refused as in flight, so the calls really run
    up to the cap: exactly MAX_CHECK_ATTEMPTS (3 here) reach NXCloud, never more."""
    registration = with_code()
    cap = 3

    def submit_until_answered(index: int) -> VerificationAttempt:
        own = PhoneRegistration.objects.get(pk=registration.pk)
        deadline = time.monotonic() + 60
        while True:
            attempt = services.check_code(own, WRONG)
            in_flight = attempt.outcome == "refused" and attempt.refusal_reason == RefusalReason.IN_FLIGHT
            if not in_flight or time.monotonic() > deadline:
                return attempt
            time.sleep(0.05)

    with (
        LoopbackNXCloud(default=result(-1, "wrong code"), hold=0.2) as server,
        rules(BASE_URL=server.base_url, MAX_CHECK_ATTEMPTS=cap),
    ):
        attempts = in_threads(submit_until_answered)
        calls = len(server.calls("checkCode"))
        assert services.get_state(registration).check.attempts_left == 0

    assert calls == cap
    final = Counter(
        attempt.outcome if attempt.outcome != "refused" else attempt.refusal_reason for attempt in attempts
    )
    assert final == Counter({"rejected": cap, RefusalReason.TOO_MANY_ATTEMPTS: THREADS - cap}), final
    assert VerificationAttempt.objects.filter(outcome="rejected").count() == cap
    assert not VerificationAttempt.objects.filter(outcome="pending").exists()


def test_fifty_sends_at_once_make_exactly_one_call() -> None:
    registration = new_registration()
    with LoopbackNXCloud(hold=0.2) as server, rules(BASE_URL=server.base_url):
        requests = in_threads(
            lambda i: services.request_code(PhoneRegistration.objects.get(pk=registration.pk), "sms")
        )
        assert len(server.calls("getCode")) == 1
    outcomes = Counter(code_request.outcome for code_request in requests)
    assert outcomes == Counter({"sent": 1, "refused": THREADS - 1}), outcomes
    reasons = {code_request.refusal_reason for code_request in requests if code_request.outcome == "refused"}
    assert reasons <= {RefusalReason.IN_FLIGHT, RefusalReason.COOLDOWN}, reasons
    assert CodeRequest.objects.filter(outcome="sent").count() == 1
