"""Concurrent redeliveries of one event, on PostgreSQL: 30 threads, each with its own database
connection, POST the same ban at once (each signed anew). One delivery row, the ban applied once,
one signal; every copy answered 200. Skipped on SQLite, which serialises writers."""

from __future__ import annotations

from typing import Any

import pytest

from nxwa_onboarding import signals
from nxwa_onboarding.models import WebhookDelivery
from nxwa_onboarding.sandbox import callbacks
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.concurrency import ON_POSTGRES, in_threads
from tests.helpers.services import PHONE, caught
from tests.helpers.webhooks import new_application, verified_under

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


@pytest.mark.parametrize(
    "payload", [callbacks.account_event(PHONE, "DISABLED_UPDATE", "DISABLE"), callbacks.quality_event(PHONE)]
)
def test_concurrent_redeliveries_are_stored_and_applied_once(
    nxcloud: FakeNXCloud, payload: dict[str, Any]
) -> None:
    application = new_application(nxcloud, "Racing", signed=True)
    verified_under(nxcloud, application, PHONE)
    signal = signals.account_updated if payload["field"] == "account_update" else signals.quality_updated
    with caught(signal) as received:
        statuses = in_threads(lambda _index: nxcloud.send_webhook(application, payload).status_code, 30)
    assert statuses == [200] * 30
    assert WebhookDelivery.objects.count() == 1
    assert WebhookDelivery.objects.get().outcome == "applied"
    assert len(received) == 1
