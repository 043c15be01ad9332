"""``services.calls``: the recorded call warns when it runs inside an outer transaction (its
pending row would not be committed before the call)."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from nxwa_onboarding.models import PhoneRegistration
from tests.helpers.services import (
    CODE,
    check,
    with_code,
)

pytestmark = pytest.mark.django_db


Status = PhoneRegistration.Status
SECRET = "test-access-secret-CANARY-7f3a"  # tests/settings.py


def test_a_call_inside_an_outer_transaction_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    registration = with_code()
    with caplog.at_level(logging.WARNING), transaction.atomic():
        check(registration, CODE)
    assert any("inside a database transaction" in r.getMessage() for r in caplog.records)


def test_no_warning_in_the_ordinary_case(caplog: pytest.LogCaptureFixture) -> None:
    registration = with_code()
    with caplog.at_level(logging.WARNING):
        check(registration, CODE)
    assert not any("inside a database transaction" in r.getMessage() for r in caplog.records)
