"""The registration changelist makes the same number of queries for 1,000 rows as for 10."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from tests.conftest import make_user
from tests.test_admin import CHANGELIST, html, logged_in


def populate(count: int, *, start: int = 0) -> None:
    """``count`` registrations with an owner, a code sent and a wrong try each (rows, no NXCloud)."""
    owners = [make_user(f"owner-{start + i}") for i in range(min(count, 5))]
    now = timezone.now()
    registrations = PhoneRegistration.objects.bulk_create(
        [
            PhoneRegistration(
                phone_number=f"86138{start + i:08d}",
                owner=owners[i % len(owners)],
                status=PhoneRegistration.Status.CODE_SENT,
                last_code_method="sms",
                code_sent_at=now,
                number_status="CONNECTED" if i % 2 else "",
                quality_rating="GREEN" if i % 2 else "",
                register_status=5 if i % 3 == 0 else None,
            )
            for i in range(count)
        ]
    )
    code_requests = CodeRequest.objects.bulk_create(
        [
            CodeRequest(
                registration=r, method="sms", channel="admin", outcome="sent", finished_at=now, ip="192.0.2.1"
            )
            for r in registrations
        ]
    )
    VerificationAttempt.objects.bulk_create(
        [
            VerificationAttempt(
                registration=cr.registration,
                code_request=cr,
                channel="customer",
                code_digest="0" * 64,
                outcome="rejected",
                finished_at=now + timedelta(seconds=1),
                ip="192.0.2.1",
            )
            for cr in code_requests
        ]
    )


def changelist_queries(client: Any, params: dict[str, str] | None = None) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(CHANGELIST), params or {})
    assert response.status_code == 200
    return len(queries), html(response)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status__exact": "code_sent"},
        {"q": "+86 138"},
        {"o": "4"},  # sorted by tries on the current code
        {"o": "-5"},  # sorted by last activity
    ],
)
def test_changelist_queries_do_not_grow_with_the_rows(staff: Any, params: dict[str, str]) -> None:
    client = logged_in(staff)
    populate(10)
    few, page = changelist_queries(client, params)
    assert page.count("1 / 5") == 10

    populate(990, start=10)
    many, page = changelist_queries(client, params)
    assert page.count("1 / 5") == 100  # a full page of rows, each with its tries
    assert many == few, f"{few} queries for 10 rows, {many} for 1,000"
