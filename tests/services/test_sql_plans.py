"""The rule reads count no more rows than their limits need (PostgreSQL, real plans).

Thousands of other customers' registrations, sends and attempts, all inside the rules' time
windows, statistics up to date; then every variant of the statements under EXPLAIN ANALYZE: the
rows the plan reads from the app's tables (rows returned by each scan plus those its filters
threw away) stay within the limits' caps, whatever the tables hold. A plan that scans a whole
table (an OR across a join did, before) reads them all and fails here; ``make bench`` measures
the same at 500,000 attempts (issue 13: flat from 5,000 to 500,000)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from nxwa_onboarding.choices import AttemptOutcome, Channel, SendOutcome
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.services import sql
from nxwa_onboarding.services.rules import Limits, Scope
from tests.helpers.plans import rows_read

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner"),
]
OTHERS = 3000
CAPS = {
    "MAX_ATTEMPTS_PER_IP_PER_HOUR": 5,
    "MAX_SENDS_PER_IP_PER_HOUR": 5,
    "MAX_SENDS_PER_OWNER_PER_DAY": 5,
    "MAX_SENDS_PER_DAY_GLOBAL": 5,
}
#: What the statements may read beyond the caps: the registration's own rows, index probes.
SLACK = 60


@pytest.fixture
def crowd() -> PhoneRegistration:
    """OTHERS registrations of one other owner, a send and two attempts each, from one address
    block, all in the last hour; then the registration the rules are read for."""
    from django.contrib.auth import get_user_model

    other = get_user_model().objects.create_user("someone-else")
    regs = PhoneRegistration.objects.bulk_create(
        PhoneRegistration(phone_number=f"86139{i:08d}", owner=other, status="code_sent")
        for i in range(OTHERS)
    )
    sends = CodeRequest.objects.bulk_create(
        CodeRequest(
            registration=r, method="sms", channel=Channel.CUSTOMER, outcome=SendOutcome.SENT, ip="203.0.113.7"
        )
        for r in regs
    )
    VerificationAttempt.objects.bulk_create(
        VerificationAttempt(
            registration=r, code_request=s, channel=Channel.CUSTOMER, outcome=outcome, ip="203.0.113.7"
        )
        for r, s in zip(regs, sends, strict=True)
        for outcome in (AttemptOutcome.REJECTED, AttemptOutcome.UNKNOWN)
    )
    with connection.cursor() as cursor:
        for model in (PhoneRegistration, CodeRequest, VerificationAttempt):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    mine = get_user_model().objects.create_user("me")
    registration = PhoneRegistration.objects.create(phone_number="8613800138000", owner=mine)
    CodeRequest.objects.create(
        registration=registration,
        method="sms",
        channel=Channel.CUSTOMER,
        outcome=SendOutcome.SENT,
        ip="203.0.113.7",
    )
    return registration


def test_no_rule_read_reads_more_rows_than_its_limits_need(crowd: PhoneRegistration) -> None:
    with override_settings(NXWA_ONBOARDING={**_settings(), **CAPS}):
        limits = Limits.from_settings()
    read = {
        (name, variant): count
        for variant in itertools.product([True, False], repeat=3)
        for name, count in _reads(crowd, limits, *variant).items()
    }
    budget = sum(CAPS.values()) * 2 + SLACK  # each cap counted once, its oldest found once
    assert {key: count for key, count in read.items() if count > budget} == {}


def _reads(
    registration: PhoneRegistration, limits: Limits, block: bool, owner: bool, exclude: bool
) -> dict[str, int]:
    now, alias = timezone.now(), connection.alias
    scope = Scope(
        check_block="203.0.113.7" if block else "",
        send_block="203.0.113.7" if block else "",
        owner_id=registration.owner_id if owner else None,
    )
    exclude_pk = 1 if exclude else None
    check = sql._check_params(registration.pk, scope.check_block, limits, now, exclude_pk, alias)
    send = sql._send_params(registration, scope, limits, now, exclude_pk, alias)
    statements = {
        "check": (sql._check_sql(alias, block, exclude), check),
        "send": (sql._send_sql(alias, owner, block, exclude), send),
        "state": (sql._state_sql(alias, block, owner, block), {**check, **send}),
    }
    return {name: rows_read(text, params) for name, (text, params) in statements.items()}


def _settings() -> dict[str, Any]:
    from django.conf import settings

    return dict(settings.NXWA_ONBOARDING)
