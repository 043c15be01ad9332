"""``services.sync_statuses``: one phoneList pass over an application's registrations."""

from __future__ import annotations

import pytest

from nxwa_onboarding import services, signals
from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.nxcloud.exceptions import (
    NXCloudConfigurationError,
)
from tests.helpers.services import (
    OTHER_PHONE,
    PHONE,
    THIRD_PHONE,
    answer,
    caught,
    listed_number,
    mocked_nxcloud,
    rules,
    verified,
)

pytestmark = pytest.mark.django_db


Status = PhoneRegistration.Status
SECRET = "test-access-secret-CANARY-7f3a"  # tests/settings.py


def test_sync_statuses() -> None:
    registered = verified(PHONE)
    client_created = verified(OTHER_PHONE)
    failing = verified(THIRD_PHONE)
    data = [
        listed_number("+86 138 0013 8000", 5),
        listed_number("+86 139 0013 9000", 3),
        listed_number("+86 150 1234 5678", 2),
        listed_number("+1 415 555 0100", 5),  # not one of ours
    ]
    progress: list[tuple[int, int]] = []
    with caught(signals.registration_completed) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=data)
        summary = services.sync_statuses(progress=lambda done, total: progress.append((done, total)))
        assert len(rsps.calls) == 1
    assert summary.listed == 4
    assert summary.matched == 3
    assert sorted(summary.changed) == sorted(
        [
            (PHONE, "verified", "registered"),
            (OTHER_PHONE, "verified", "client_created"),
            (THIRD_PHONE, "verified", "failed"),
        ]
    )
    assert summary.unmatched == ["14155550100"]
    assert progress[-1] == (4, 4)
    for registration, status in (
        (registered, "registered"),
        (client_created, "client_created"),
        (failing, "failed"),
    ):
        registration.refresh_from_db()
        assert registration.status == status
    assert [s["registration"].pk for s in sent] == [registered.pk]


def test_sync_statuses_needs_an_app_key() -> None:
    with (
        rules(APP_KEY=""),
        mocked_nxcloud() as rsps,
        pytest.raises(NXCloudConfigurationError, match="APP_KEY"),
    ):
        services.sync_statuses()
    assert not rsps.calls


def test_sync_statuses_with_no_numbers() -> None:
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=None)
        summary = services.sync_statuses("k")
    assert (summary.listed, summary.matched, summary.changed, summary.unmatched) == (0, 0, [], [])
