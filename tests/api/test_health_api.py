"""The API's side of a number's life after "registered": its health as a typed object, when
setup can be tried again, withdrawing a number not yet verified, and the open-limit problem."""

from __future__ import annotations

from typing import Any

import pytest

from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.api import ApiClient, problem
from tests.helpers.services import rules

pytestmark = pytest.mark.django_db

NUMBERS = ["+86 138 0013 8000", "+86 139 0013 9000", "+86 137 0013 7000"]
Status = PhoneRegistration.Status


@pytest.fixture
def api(customer: Any) -> ApiClient:
    client = ApiClient()
    client.client.force_login(customer)
    return client


def start(api: ApiClient, phone: str) -> dict[str, Any]:
    response = api.post("/registrations/", {"phone_number": phone, "method": "sms"})
    assert response.status_code == 201, response.content
    return dict(response.json())


# -- the open limit ----------------------------------------------------------------------------------


def test_the_open_limit_is_its_own_documented_problem_type(api: ApiClient, nxcloud: FakeNXCloud) -> None:
    with rules(MAX_OPEN_REGISTRATIONS_PER_OWNER=2):
        start(api, NUMBERS[0])
        start(api, NUMBERS[1])
        response = api.post("/registrations/", {"phone_number": NUMBERS[2], "method": "sms"})
    body = problem(response, 409, "open-limit")
    assert "waiting for their codes" in body["detail"]
    assert len(nxcloud.calls_to("getCode")) == 2


def test_at_the_open_limit_a_number_already_open_is_answered_with_its_registration(
    api: ApiClient, nxcloud: FakeNXCloud
) -> None:
    with rules(MAX_OPEN_REGISTRATIONS_PER_OWNER=2):
        first = start(api, NUMBERS[0])
        start(api, NUMBERS[1])
        response = api.post("/registrations/", {"phone_number": NUMBERS[0], "method": "sms"})
    body = problem(response, 409, "already-onboarding")
    assert body["registration"] == first["id"]
