"""Sends at once under one budget (PostgreSQL): the guard's lock lets exactly the budget through."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from harness.loopback import LoopbackNXCloud
from nxwa_onboarding import services
from nxwa_onboarding.models import PhoneRegistration
from tests.helpers.concurrency import ON_POSTGRES, in_threads
from tests.helpers.fraud import gb_number

pytestmark = [
    pytest.mark.skipif(
        not ON_POSTGRES, reason="concurrency needs PostgreSQL: SQLite serialises every writer"
    ),
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

SENDERS = 12
BUDGET = 3


@pytest.fixture
def stand_in() -> Iterator[LoopbackNXCloud]:
    with LoopbackNXCloud(hold=0.03) as server:
        nxwa = {
            **settings.NXWA_ONBOARDING,
            "BASE_URL": server.base_url,
            "TIMEOUT": (2.0, 5.0),
            "SEND_BUDGETS": {"GB": BUDGET},
        }
        with override_settings(NXWA_ONBOARDING=nxwa):
            yield server


def test_sends_at_once_take_no_more_than_the_budget(stand_in: LoopbackNXCloud) -> None:
    pks = [services.create_registration(gb_number(index)).pk for index in range(SENDERS)]

    def send(index: int) -> Any:
        return services.request_code(PhoneRegistration.objects.get(pk=pks[index]), "sms").outcome

    outcomes = in_threads(send, SENDERS)
    assert outcomes.count("sent") == BUDGET
    assert outcomes.count("refused") == SENDERS - BUDGET
    assert len(stand_in.calls("getCode")) == BUDGET
