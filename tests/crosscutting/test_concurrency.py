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

import time
from collections import Counter

import pytest
from django.contrib.auth import get_user_model

from harness.loopback import LoopbackNXCloud, result
from nxwa_onboarding import services, signals
from nxwa_onboarding.models import Channel, CodeRequest, PhoneRegistration, RefusalReason, VerificationAttempt
from tests.helpers.concurrency import ON_POSTGRES, THREADS, in_threads
from tests.helpers.services import CODE, WRONG, caught, new_registration, rules, with_code

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
    # the database agrees with what the callers were told (refusals beyond the throttle are
    # answered the same way and not stored: pk None)
    stored = Counter(VerificationAttempt.objects.values_list("outcome", flat=True))
    recorded = sum(1 for attempt in attempts if attempt.pk is not None and attempt.outcome == "refused")
    assert stored == Counter({"accepted": 1, "refused": recorded})
    assert recorded < THREADS - 1
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


# -- the limits beyond the number, under parallel requests on different registrations ----------

NUMBERS = [f"86138001380{index:02d}" for index in range(20)]


def test_parallel_checks_from_one_address_hold_its_cap_across_registrations() -> None:
    """The per-address count is serialised in the write-ahead transaction (an advisory lock):
    20 wrong codes at once from one address on 20 registrations make MAX_ATTEMPTS_PER_IP_PER_HOUR
    calls, not 9-15 as before with a cap of 5."""
    cap = 5
    registrations = [with_code(phone) for phone in NUMBERS]
    with (
        LoopbackNXCloud(default=result(-1, "wrong code"), hold=0.1) as server,
        rules(BASE_URL=server.base_url, MAX_ATTEMPTS_PER_IP_PER_HOUR=cap),
    ):
        attempts = in_threads(
            lambda i: services.check_code(
                PhoneRegistration.objects.get(pk=registrations[i].pk), WRONG, ip="203.0.113.7"
            ),
            count=len(registrations),
        )
        assert len(server.calls("checkCode")) == cap
    outcomes = Counter(a.outcome if a.outcome != "refused" else a.refusal_reason for a in attempts)
    assert outcomes == Counter({"rejected": cap, RefusalReason.IP_LIMIT: len(registrations) - cap})


def test_parallel_sends_of_one_customer_hold_the_owner_cap() -> None:
    cap = 4
    owner = get_user_model().objects.create_user("pumper")
    with rules(MAX_OPEN_REGISTRATIONS_PER_OWNER=100):
        registrations = [services.create_registration(phone, owner=owner) for phone in NUMBERS]
    with (
        LoopbackNXCloud(hold=0.1) as server,
        rules(BASE_URL=server.base_url, MAX_SENDS_PER_OWNER_PER_DAY=cap, MAX_SENDS_PER_IP_PER_HOUR=100),
    ):
        sends = in_threads(
            lambda i: services.request_code(
                PhoneRegistration.objects.get(pk=registrations[i].pk),
                "sms",
                ip=f"198.51.100.{i + 1}",
                channel=Channel.CUSTOMER,
            ),
            count=len(registrations),
        )
        assert len(server.calls("getCode")) == cap
    outcomes = Counter(s.outcome if s.outcome != "refused" else s.refusal_reason for s in sends)
    assert outcomes == Counter({"sent": cap, RefusalReason.OWNER_LIMIT: len(registrations) - cap})


def test_simultaneous_refreshes_make_one_phone_list_call() -> None:
    """25 refreshes of one number at once used to make 25 phoneList calls (each fetching the
    application's whole list); the first claims the read, the others read the database."""
    registration = with_code()
    PhoneRegistration.objects.filter(pk=registration.pk).update(
        status=PhoneRegistration.Status.CLIENT_CREATED, verified_at=registration.created_at
    )
    listed = [{"display_phone_number": "+86 138 0013 8000", "register_status": 4, "status": "CONNECTED"}]
    with (
        LoopbackNXCloud(default=result(0, data=listed), hold=0.3) as server,
        rules(BASE_URL=server.base_url),
    ):
        in_threads(
            lambda i: services.refresh_status(PhoneRegistration.objects.get(pk=registration.pk)), count=25
        )
        assert len(server.calls("phoneList")) == 1
    registration.refresh_from_db()
    assert registration.register_status == 4
    assert registration.status_requested_at is None  # the claim is released after the call
