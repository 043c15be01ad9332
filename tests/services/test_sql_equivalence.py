"""The hand-written SQL (``services/sql.py``) returns the same facts as plain ORM queries.

Random rows (registrations sharing numbers, sends and attempts of every outcome at random ages,
addresses in both families), then every fact the rules read, both ways. This is what makes the
SQL safe to change or delete: a change that alters a single count fails here with the example.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Max, Min, QuerySet
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from nxwa_onboarding.choices import AttemptOutcome, Channel, Method, RegistrationStatus, SendOutcome
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.services import sql
from nxwa_onboarding.services.rules import (
    CODE_BEARING_SENDS,
    COUNTED_ATTEMPTS,
    COUNTED_SENDS,
    IP_COUNTED_ATTEMPTS,
    CheckFacts,
    SendFacts,
)

NUMBERS = ("8613800138000", "8613900139000")
ADDRESSES = ("203.0.113.7", "198.51.100.2", "2001:db8::1", "2001:db8::2")
#: Ages around the windows the rules use (an hour, a day), in seconds.
AGES = st.one_of(
    st.integers(0, 3 * 86_400),
    st.sampled_from([3599, 3600, 3601, 86_399, 86_400, 86_401]),
)

registrations = st.lists(
    st.tuples(st.sampled_from(NUMBERS), st.sampled_from(list(RegistrationStatus.values))),
    min_size=1,
    max_size=3,
)
sends = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(list(SendOutcome.values)), AGES), max_size=8)
attempts = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(-1, 7),  # which send it was made on (-1: none)
        st.sampled_from(list(AttemptOutcome.values)),
        AGES,
        st.none() | st.sampled_from(ADDRESSES),
    ),
    max_size=10,
)


def orm_check_facts(
    registration: PhoneRegistration, ip: str | None, now: datetime, exclude_pk: int | None
) -> CheckFacts:
    """What the check rules need, with the ORM and nothing clever."""
    fresh = PhoneRegistration.objects.get(pk=registration.pk)
    mine: QuerySet[VerificationAttempt] = VerificationAttempt.objects.filter(registration=fresh)
    everyone: QuerySet[VerificationAttempt] = VerificationAttempt.objects.all()
    if exclude_pk is not None:
        mine, everyone = mine.exclude(pk=exclude_pk), everyone.exclude(pk=exclude_pk)
    current = (
        CodeRequest.objects.filter(registration=fresh, outcome__in=CODE_BEARING_SENDS)
        .order_by("-created_at", "-id")
        .first()
    )
    used = mine.filter(code_request=current, outcome__in=COUNTED_ATTEMPTS).count() if current else 0
    ip_attempts: int | None = None
    ip_oldest: datetime | None = None
    if ip:
        from_ip = everyone.filter(
            ip=ip, created_at__gt=now - timedelta(hours=1), outcome__in=IP_COUNTED_ATTEMPTS
        )
        ip_attempts = from_ip.count()
        ip_oldest = from_ip.aggregate(oldest=Min("created_at"))["oldest"]
    return CheckFacts(
        status=fresh.status,
        verified_at=fresh.verified_at,
        code_request_id=current.pk if current else None,
        code_sent_at=current.created_at if current else None,
        attempts_on_code=used,
        pending=mine.filter(outcome=AttemptOutcome.PENDING).count(),
        ip_attempts=ip_attempts,
        ip_oldest=ip_oldest,
    )


def orm_send_facts(registration: PhoneRegistration, now: datetime, exclude_pk: int | None) -> SendFacts:
    """What the send rules need, with the ORM and nothing clever."""
    fresh = PhoneRegistration.objects.get(pk=registration.pk)
    rows: QuerySet[CodeRequest] = CodeRequest.objects.all()
    if exclude_pk is not None:
        rows = rows.exclude(pk=exclude_pk)
    today = rows.filter(
        registration__phone_number=fresh.phone_number,
        outcome__in=COUNTED_SENDS,
        created_at__gt=now - timedelta(days=1),
    )
    mine = rows.filter(registration=fresh)
    return SendFacts(
        status=fresh.status,
        verified_at=fresh.verified_at,
        sends_today=today.count(),
        oldest_today=today.aggregate(oldest=Min("created_at"))["oldest"],
        last_send_at=mine.filter(outcome__in=COUNTED_SENDS).aggregate(last=Max("created_at"))["last"],
        pending=mine.filter(outcome=SendOutcome.PENDING).count(),
    )


def make_rows(
    now: datetime, regs: list[tuple[str, str]], send_rows: list[Any], attempt_rows: list[Any]
) -> tuple[list[PhoneRegistration], list[CodeRequest], list[VerificationAttempt]]:
    """The rows, at their ages. Constraints the database enforces are respected by skipping:
    one open registration per number, one pending send and attempt per registration."""
    made: list[PhoneRegistration] = []
    for phone, status in regs:
        if status != RegistrationStatus.FAILED and any(
            r.phone_number == phone and r.status != RegistrationStatus.FAILED for r in made
        ):
            status = RegistrationStatus.FAILED
        verified = now if status in ("verified", "client_created", "registered") else None
        made.append(PhoneRegistration.objects.create(phone_number=phone, status=status, verified_at=verified))
    code_requests: list[CodeRequest] = []
    for index, outcome, age in send_rows:
        registration = made[index % len(made)]
        if outcome == SendOutcome.PENDING and any(
            c.registration_id == registration.pk and c.outcome == SendOutcome.PENDING for c in code_requests
        ):
            continue
        row = CodeRequest.objects.create(
            registration=registration, method=Method.SMS, channel=Channel.API, outcome=outcome
        )
        CodeRequest.objects.filter(pk=row.pk).update(created_at=now - timedelta(seconds=age))
        code_requests.append(row)
    made_attempts: list[VerificationAttempt] = []
    for index, send_index, outcome, age, ip in attempt_rows:
        registration = made[index % len(made)]
        if outcome == AttemptOutcome.PENDING and any(
            a.registration_id == registration.pk and a.outcome == AttemptOutcome.PENDING
            for a in made_attempts
        ):
            continue
        on = code_requests[send_index] if 0 <= send_index < len(code_requests) else None
        row = VerificationAttempt.objects.create(
            registration=registration, code_request=on, channel=Channel.API, outcome=outcome, ip=ip
        )
        VerificationAttempt.objects.filter(pk=row.pk).update(created_at=now - timedelta(seconds=age))
        made_attempts.append(row)
    return made, code_requests, made_attempts


class SqlEqualsOrm(TestCase):
    @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(
        regs=registrations,
        send_rows=sends,
        attempt_rows=attempts,
        ip=st.none() | st.sampled_from(ADDRESSES),
        exclude=st.booleans(),
    )
    def test_the_rules_read_the_same_facts_as_the_orm(
        self,
        regs: list[tuple[str, str]],
        send_rows: list[Any],
        attempt_rows: list[Any],
        ip: str | None,
        exclude: bool,
    ) -> None:
        now = timezone.now()
        made, code_requests, made_attempts = make_rows(now, regs, send_rows, attempt_rows)
        for registration in made:
            attempt_pk = next((a.pk for a in made_attempts if a.registration_id == registration.pk), None)
            send_pk = next((c.pk for c in code_requests if c.registration_id == registration.pk), None)
            exclude_attempt = attempt_pk if exclude else None
            exclude_send = send_pk if exclude else None

            assert sql.read_check_facts(registration, ip, now, exclude_pk=exclude_attempt) == orm_check_facts(
                registration, ip, now, exclude_attempt
            )
            assert sql.read_send_facts(registration, now, exclude_pk=exclude_send) == orm_send_facts(
                registration, now, exclude_send
            )
            check, send = sql.read_state_facts(registration, ip, now)
            assert check == orm_check_facts(registration, ip, now, None)
            assert send == orm_send_facts(registration, now, None)


class CountEqualsOrm(TestCase):
    @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=25)
    @given(rows=st.integers(0, 30), exact_up_to=st.integers(0, 20))
    def test_the_audit_count_is_the_orm_count_unless_it_says_it_estimated(
        self, rows: int, exact_up_to: int
    ) -> None:
        PhoneRegistration.objects.bulk_create(
            PhoneRegistration(phone_number=f"86138{index:08d}") for index in range(rows)
        )
        got = sql.count_or_estimate(PhoneRegistration, "default", exact_up_to)
        if connection.vendor != "postgresql":
            assert got is None  # the caller counts with the ORM
            return
        assert got is not None
        count, estimated = got
        if rows <= exact_up_to or not estimated:
            assert (count, estimated) == (PhoneRegistration.objects.count(), False)
        else:
            assert count >= exact_up_to + 1
