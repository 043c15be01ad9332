"""The hand-written SQL (``services/sql.py``) reads and writes what plain ORM code does.

Random rows (registrations sharing numbers, sends and attempts of every outcome at random ages,
addresses in both families), then every fact the rules read, both ways (also with every statement
prepared); the audit lists' count against the ORM's; a sync's batch write against
``bulk_update``. This is what makes the SQL safe to change or delete: a change that alters a
single count or column fails here with the example.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Max, Min, QuerySet
from django.forms.models import model_to_dict
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from nxwa_onboarding.addresses import block_of
from nxwa_onboarding.choices import (
    CLOSED_STATES,
    AttemptOutcome,
    Channel,
    Method,
    RegistrationStatus,
    SendOutcome,
)
from nxwa_onboarding.models import CallHold, CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.models.holds import EVERYONE
from nxwa_onboarding.services import breaker, sql
from nxwa_onboarding.services.rules import (
    CALLED_SENDS,
    CODE_BEARING_SENDS,
    COUNTED_ATTEMPTS,
    COUNTED_SENDS,
    IP_COUNTED_ATTEMPTS,
    CheckFacts,
    Holds,
    Limits,
    Scope,
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
    st.tuples(st.sampled_from(NUMBERS), st.sampled_from(list(RegistrationStatus.values)), st.integers(0, 2)),
    min_size=1,
    max_size=3,
)
sends = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(list(SendOutcome.values)),
        AGES,
        st.none() | st.sampled_from(ADDRESSES),
    ),
    max_size=8,
)
#: Small caps, so that the bounded counts are cut at their cap in some examples.
limits_strategy = st.builds(
    Limits,
    max_check_attempts=st.just(5),
    code_ttl=st.just(timedelta(minutes=10)),
    resend_cooldown=st.just(timedelta(minutes=1)),
    max_sends_per_day=st.just(5),
    max_attempts_per_ip_per_hour=st.integers(1, 4),
    max_sends_per_owner_per_day=st.integers(1, 4),
    max_sends_per_ip_per_hour=st.integers(1, 4),
    max_sends_per_day_global=st.integers(1, 6),
)
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
    registration: PhoneRegistration, scope: Scope, limits: Limits, now: datetime, exclude_pk: int | None
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
    if scope.check_block:
        from_ip = everyone.filter(
            ip_block=scope.check_block,
            created_at__gt=now - timedelta(hours=1),
            outcome__in=IP_COUNTED_ATTEMPTS,
        )
        ip_attempts = min(from_ip.count(), limits.max_attempts_per_ip_per_hour)
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
        address_missing=scope.address_missing,
    )


def orm_send_facts(
    registration: PhoneRegistration, scope: Scope, limits: Limits, now: datetime, exclude_pk: int | None
) -> SendFacts:
    """What the send rules need, with the ORM and nothing clever."""
    fresh = PhoneRegistration.objects.get(pk=registration.pk)
    rows: QuerySet[CodeRequest] = CodeRequest.objects.all()
    if exclude_pk is not None:
        rows = rows.exclude(pk=exclude_pk)
    day_ago, hour_ago = now - timedelta(days=1), now - timedelta(hours=1)
    today = rows.filter(
        registration__phone_number=fresh.phone_number, outcome__in=COUNTED_SENDS, created_at__gt=day_ago
    )
    mine = rows.filter(registration=fresh)
    called = rows.filter(outcome__in=CALLED_SENDS)

    def bounded(calls: QuerySet[CodeRequest], cap: int) -> tuple[int, datetime | None]:
        return min(calls.count(), cap), calls.aggregate(oldest=Min("created_at"))["oldest"]

    owner_sends: int | None = None
    owner_oldest = block_oldest = None
    block_sends: int | None = None
    if scope.owner_id is not None:
        owner_calls = called.filter(registration__owner_id=scope.owner_id, created_at__gt=day_ago)
        owner_sends, owner_oldest = bounded(owner_calls, limits.max_sends_per_owner_per_day)
    if scope.send_block:
        block_calls = called.filter(ip_block=scope.send_block, created_at__gt=hour_ago)
        block_sends, block_oldest = bounded(block_calls, limits.max_sends_per_ip_per_hour)
    global_sends, global_oldest = bounded(
        called.filter(created_at__gt=day_ago), limits.max_sends_per_day_global
    )
    return SendFacts(
        status=fresh.status,
        verified_at=fresh.verified_at,
        sends_today=today.count(),
        oldest_today=today.aggregate(oldest=Min("created_at"))["oldest"],
        last_send_at=mine.filter(outcome__in=COUNTED_SENDS).aggregate(last=Max("created_at"))["last"],
        last_call_at=mine.filter(outcome__in=CALLED_SENDS).aggregate(last=Max("created_at"))["last"],
        pending=mine.filter(outcome=SendOutcome.PENDING).count(),
        owner_sends=owner_sends,
        owner_oldest=owner_oldest if scope.owner_id is not None else None,
        block_sends=block_sends,
        block_oldest=block_oldest if scope.send_block else None,
        global_sends=global_sends,
        global_oldest=global_oldest,
        address_missing=scope.address_missing,
        methods=scope.methods,
    )


def make_rows(
    now: datetime, regs: list[tuple[str, str, int]], send_rows: list[Any], attempt_rows: list[Any]
) -> tuple[list[PhoneRegistration], list[CodeRequest], list[VerificationAttempt]]:
    """The rows, at their ages. Constraints the database enforces are respected by skipping:
    one open registration per number, one pending send and attempt per registration."""
    owners = [None, *(get_user_model().objects.get_or_create(username=f"owner{n}")[0] for n in (1, 2))]
    made: list[PhoneRegistration] = []
    for phone, status, owner in regs:
        if status not in CLOSED_STATES and any(
            r.phone_number == phone and r.status not in CLOSED_STATES for r in made
        ):
            status = RegistrationStatus.FAILED
        verified = now if status in ("verified", "client_created", "registered") else None
        made.append(
            PhoneRegistration.objects.create(
                phone_number=phone, status=status, verified_at=verified, owner=owners[owner]
            )
        )
    code_requests: list[CodeRequest] = []
    for index, outcome, age, send_ip in send_rows:
        registration = made[index % len(made)]
        if outcome == SendOutcome.PENDING and any(
            c.registration_id == registration.pk and c.outcome == SendOutcome.PENDING for c in code_requests
        ):
            continue
        row = CodeRequest.objects.create(
            registration=registration, method=Method.SMS, channel=Channel.API, outcome=outcome, ip=send_ip
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
        attempt = VerificationAttempt.objects.create(
            registration=registration, code_request=on, channel=Channel.API, outcome=outcome, ip=ip
        )
        VerificationAttempt.objects.filter(pk=attempt.pk).update(created_at=now - timedelta(seconds=age))
        made_attempts.append(attempt)
    return made, code_requests, made_attempts


EXAMPLES = {
    "regs": registrations,
    "send_rows": sends,
    "attempt_rows": attempts,
    "ip": st.none() | st.sampled_from(ADDRESSES),
    "limits": limits_strategy,
    "counted": st.booleans(),
    "exclude": st.booleans(),
}


class SqlEqualsOrm(TestCase):
    @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(**EXAMPLES)
    def test_the_rules_read_the_same_facts_as_the_orm(
        self,
        regs: list[tuple[str, str, int]],
        send_rows: list[Any],
        attempt_rows: list[Any],
        ip: str | None,
        limits: Limits,
        counted: bool,
        exclude: bool,
    ) -> None:
        now = timezone.now()
        made, code_requests, made_attempts = make_rows(now, regs, send_rows, attempt_rows)
        block = block_of(ip)
        for registration in made:
            scope = Scope(
                check_block=block,
                send_block=block if counted else "",
                owner_id=registration.owner_id if counted else None,
                address_missing=not block,
            )
            attempt_pk = next((a.pk for a in made_attempts if a.registration_id == registration.pk), None)
            send_pk = next((c.pk for c in code_requests if c.registration_id == registration.pk), None)
            exclude_attempt = attempt_pk if exclude else None
            exclude_send = send_pk if exclude else None

            assert sql.read_check_facts(registration, scope, limits, now, exclude_pk=exclude_attempt) == (
                orm_check_facts(registration, scope, limits, now, exclude_attempt)
            )
            assert sql.read_send_facts(registration, scope, limits, now, exclude_pk=exclude_send) == (
                orm_send_facts(registration, scope, limits, now, exclude_send)
            )
            check, send = sql.read_state_facts(registration, scope, limits, now)
            assert check == orm_check_facts(registration, scope, limits, now, None)
            assert send == orm_send_facts(registration, scope, limits, now, None)


class PreparedSqlEqualsOrm(TestCase):
    """The same, with every statement prepared at once (``prepare_threshold`` 0): what a host
    that enables prepared statements runs (``services.sql.server_binding_cursor``), generic plans included."""

    def setUp(self) -> None:
        connection.ensure_connection()
        raw = connection.connection
        if connection.vendor != "postgresql" or not hasattr(raw, "prepare_threshold"):
            self.skipTest("prepared statements: PostgreSQL with psycopg 3")
        self.threshold = raw.prepare_threshold
        raw.prepare_threshold = 0
        self.addCleanup(setattr, raw, "prepare_threshold", self.threshold)

    @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(**EXAMPLES)
    def test_the_prepared_rules_read_the_same_facts_as_the_orm(self, **example: Any) -> None:
        SqlEqualsOrm.test_the_rules_read_the_same_facts_as_the_orm.hypothesis.inner_test(self, **example)  # type: ignore[attr-defined]
        # Before the example's rollback, which makes psycopg forget (and deallocate) them all.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%capped%"]
            )
            (prepared,) = cursor.fetchone()
        assert prepared > 0, "the rule reads were not prepared"


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


# -- sql.update_many writes what Django's bulk_update writes (the plain version) --------------------
# Random details (text with quotes, empty strings, None where the column allows it, small
# integers, times) on a few registrations, written once by each from the same starting rows:
# every column of every row reads back the same.

DETAIL_NAMES = (
    "number_status",
    "quality_rating",
    "verified_name",
    "waba_id",
    "register_status",
    "last_synced_at",
)
detail_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=10)
details = st.fixed_dictionaries(
    {
        "number_status": detail_text.map(lambda v: v[:20]),
        "quality_rating": detail_text.map(lambda v: v[:10]),
        "verified_name": detail_text,
        "waba_id": detail_text,
        "register_status": st.none() | st.integers(0, 5),
        "last_synced_at": st.none() | st.integers(-(10**6), 10**6),
    }
)


def fresh_rows(count: int, prefix: str) -> list[PhoneRegistration]:
    return [
        PhoneRegistration.objects.create(phone_number=f"{prefix}{i:08d}", status="failed")
        for i in range(count)
    ]


def assign(registration: PhoneRegistration, values: dict[str, Any], now: datetime) -> None:
    for name, value in values.items():
        if name == "last_synced_at" and value is not None:
            value = now + timedelta(seconds=value)
        setattr(registration, name, value)


def row_state(registration: PhoneRegistration) -> dict[str, Any]:
    fresh = model_to_dict(PhoneRegistration.objects.get(pk=registration.pk), fields=DETAIL_NAMES)
    return fresh


class UpdateManyEqualsBulkUpdate(TestCase):
    @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=30)
    @given(st.lists(details, min_size=1, max_size=5))
    def test_the_rows_read_back_the_same(self, changes: list[dict[str, Any]]) -> None:
        ours, django = fresh_rows(len(changes), "86138"), fresh_rows(len(changes), "86139")
        now = timezone.now()
        for mine, theirs, values in zip(ours, django, changes, strict=True):
            assign(mine, values, now)
            assign(theirs, values, now)
        assert sql.update_many(PhoneRegistration, ours, DETAIL_NAMES)
        PhoneRegistration.objects.bulk_update(django, list(DETAIL_NAMES))
        assert [row_state(r) for r in ours] == [row_state(r) for r in django]


class TooLongAlike(TestCase):
    def test_a_value_too_long_for_its_column_is_treated_as_bulk_update_treats_it(self) -> None:
        """PostgreSQL: both cast to the column's type, which cuts 21 characters to 20 (the sync
        cuts its values itself first); SQLite keeps all 21 in both."""
        ours, django = fresh_rows(1, "86138"), fresh_rows(1, "86139")
        for registration in (*ours, *django):
            registration.number_status = "x" * 21
        sql.update_many(PhoneRegistration, ours, ("number_status",))
        PhoneRegistration.objects.bulk_update(django, ["number_status"])
        assert row_state(ours[0]) == row_state(django[0])


@pytest.mark.django_db
def test_the_holds_read_is_the_orms() -> None:
    """``sql.holds`` (hand-written, read on every recorded call) finds the rows the plain ORM
    query finds: in force, out of force and on other scopes alike."""
    now = timezone.now()
    rows = [
        ("*", now + timedelta(minutes=5)),
        ("registration:1", now - timedelta(seconds=1)),
        ("registration:2", now + timedelta(seconds=1)),
        ("block:203.0.113.0/24", now + timedelta(hours=1)),
        ("owner:7", now),
    ]
    for scope, until in rows:
        CallHold.objects.create(scope=scope, until=until, started_at=now - timedelta(hours=1))
    for scopes in (
        ["*"],
        ["*", "registration:1", "registration:2"],
        ["registration:2", "block:203.0.113.0/24", "owner:7"],
        ["owner:8"],
    ):
        plain = set(CallHold.objects.filter(scope__in=scopes, until__gt=now).values_list("scope", "until"))
        assert set(sql.holds(scopes, now)) == plain


def orm_holds(scopes: list[str], now: datetime) -> Holds:
    """The holds on a call with the ORM and nothing clever: the breaker's, then its own scopes'."""
    live = CallHold.objects.filter(until__gt=now)
    return Holds(
        paused_until=live.filter(scope=EVERYONE).aggregate(end=Min("until"))["end"],
        held_until=live.filter(scope__in=scopes).exclude(scope=EVERYONE).aggregate(end=Min("until"))["end"],
    )


@pytest.mark.django_db
def test_the_holds_seen_with_the_rules_decide_as_the_orm() -> None:
    """A recorded call looks for holds in the rule read's own statement (``holds_on``) and reads
    them by themselves only when one is in force (``breaker.held``). Every subset of holds (in
    force, just out of force, on the call's scopes and others') against every set of the call's
    scopes: the rule read says "none" exactly when the ORM finds none, ``breaker.held`` finds
    the ORM's holds, and the facts beside them are unchanged."""
    now = timezone.now()
    registration = PhoneRegistration.objects.create(phone_number=NUMBERS[0])
    holds = [
        (EVERYONE, now + timedelta(minutes=5)),
        (EVERYONE, now),  # a breaker that closes exactly now is out of force
        (f"registration:{registration.pk}", now + timedelta(seconds=1)),
        (f"registration:{registration.pk}", now - timedelta(seconds=1)),
        ("block:203.0.113.0/24", now + timedelta(hours=1)),
        ("owner:7", now + timedelta(minutes=30)),
        ("owner:8", now + timedelta(seconds=5)),
    ]
    scope_sets = [
        [f"registration:{registration.pk}"],
        [f"registration:{registration.pk}", "block:203.0.113.0/24", "owner:7"],
        [f"registration:{registration.pk}", "owner:8"],
    ]
    scope = Scope(check_block="203.0.113.0/24", send_block="203.0.113.0/24", owner_id=7)
    limits = Limits.from_settings()
    seen = {"none": 0, "held": 0}
    for mask in range(2 ** len(holds)):
        CallHold.objects.all().delete()
        chosen = {scope_name: until for index, (scope_name, until) in enumerate(holds) if mask >> index & 1}
        for scope_name, until in chosen.items():  # one row per scope, as the model's unique scope
            CallHold.objects.create(scope=scope_name, until=until, started_at=now - timedelta(hours=1))
        for names in scope_sets:
            expected = orm_holds(names, now)
            assert breaker.held(names, now) == expected, (chosen, names)
            check = sql.read_check_facts(registration, scope, limits, now, holds_on=names)
            send = sql.read_send_facts(registration, scope, limits, now, holds_on=names)
            none_in_force = expected == Holds()
            assert check.holds == (Holds() if none_in_force else None), (chosen, names)
            assert send.holds == check.holds, (chosen, names)
            assert replace(check, holds=None) == sql.read_check_facts(registration, scope, limits, now)
            assert replace(send, holds=None) == sql.read_send_facts(registration, scope, limits, now)
            seen["none" if none_in_force else "held"] += 1
    assert seen["none"] > 50, seen
    assert seen["held"] > 50, seen
