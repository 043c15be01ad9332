"""The fraud guard's counts read the rows of their prefix or region, not the day's sends
(PostgreSQL, real plans): thousands of other numbers' sends in the window, statistics up to date,
then the guard's statements under EXPLAIN ANALYZE."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from nxwa_onboarding.choices import Channel, SendOutcome
from nxwa_onboarding.models import Application, CodeRequest, PhoneRegistration
from nxwa_onboarding.services import fraud, policy
from tests.helpers.fraud import cn_number, gb_number
from tests.helpers.plans import rows_read
from tests.helpers.services import rules

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner"),
]

OTHERS = 3000
MINE = 5
SLACK = 60


@pytest.fixture
def crowd() -> PhoneRegistration:
    application = Application.objects.default()
    numbers = [cn_number(index % 90 + 10, index) for index in range(OTHERS)] + [
        gb_number(i) for i in range(MINE)
    ]
    PhoneRegistration.objects.bulk_create(
        PhoneRegistration(phone_number=digits, region=fraud.region_of(digits), application=application)
        for digits in numbers
    )
    registrations = list(PhoneRegistration.objects.all())
    CodeRequest.objects.bulk_create(
        CodeRequest(registration=r, method="sms", channel=Channel.API, outcome=SendOutcome.SENT)
        for r in registrations
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return PhoneRegistration.objects.get(phone_number=gb_number(0))


def test_the_guards_reads_stay_within_their_prefix_and_region(crowd: PhoneRegistration) -> None:
    block = {
        "min_sends": 1000,
        "max_conversion": 0.05,
        "prefix_digits": 7,
        "window_hours": 24,
        "mode": "block",
    }
    with (
        rules(AUTO_BLOCK=block, SEND_BUDGETS={"GB": 1000, "+4474001": 1000}),
        CaptureQueriesContext(connection) as captured,
    ):
        assert fraud.guard(crowd, policy.SETTINGS, timezone.now()) is None
    statements = [query["sql"] for query in captured.captured_queries if "pg_advisory" not in query["sql"]]
    assert len(statements) == 5  # two budgets, the allow-list, the block history, the figures (and locks)
    read = {sql[:80]: rows_read(sql) for sql in statements}
    assert {text: count for text, count in read.items() if count > MINE * 2 + SLACK} == {}
