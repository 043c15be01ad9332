"""Fixtures shared by the tests in this folder."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from nxwa_onboarding import services
from nxwa_onboarding.models import CodeRequest, PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.admin import (
    PHONE,
    logged_in,
)


@pytest.fixture
def registration(customer: Any) -> PhoneRegistration:
    return services.create_registration("+86 138 0013 8000", owner=customer)


@pytest.fixture
def sent(registration: PhoneRegistration, nxcloud: FakeNXCloud) -> PhoneRegistration:
    """A registration whose code NXCloud has just sent by SMS."""
    code_request = services.request_code(registration, "sms")
    assert code_request.outcome == CodeRequest.Outcome.SENT
    return registration


@pytest.fixture
def staff_client(staff: Any) -> Client:
    return logged_in(staff)


@pytest.fixture
def trail(customer: Any, staff: Any, nxcloud: FakeNXCloud) -> PhoneRegistration:
    """A registration with a code sent, a wrong code from one address and the right one from another."""
    registration = services.create_registration("+86 138 0013 8000", owner=customer)
    services.request_code(registration, "sms", user=customer, ip="198.51.100.7", channel="customer")
    code = nxcloud.latest_code(PHONE)
    assert code is not None
    wrong = "000000" if code != "000000" else "999999"
    services.check_code(registration, wrong, user=customer, ip="198.51.100.7", channel="customer")
    services.check_code(registration, code, user=staff, ip="203.0.113.9", channel="admin")
    other = services.create_registration("+86 139 0013 9000")
    services.request_code(other, "voice", ip="192.0.2.1", channel="api")
    return registration
