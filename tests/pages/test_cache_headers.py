"""Every customer page, and the page's JSON poll, says ``Cache-Control: no-store``: they show a
customer's numbers and where each stands, which neither a shared cache nor the browser's
back-forward history on a shared computer should keep."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from nxwa_onboarding import services
from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud

pytestmark = pytest.mark.django_db

DIGITS = "8613800138000"


def no_store(response: Any) -> bool:
    directives = {part.strip().split("=")[0] for part in response.get("Cache-Control", "").split(",")}
    return "no-store" in directives


@pytest.fixture
def registration(customer: Any, nxcloud: FakeNXCloud) -> PhoneRegistration:
    return services.start_registration(DIGITS, owner=customer, user=customer)


def registration_url(name: str, registration: PhoneRegistration) -> str:
    return reverse(f"nxwa_onboarding:{name}", kwargs={"public_id": registration.public_id})


# (method, url name, needs a registration, POST data, extra headers)
REQUESTS: list[tuple[str, str, bool, dict[str, str], dict[str, str]]] = [
    ("get", "list", False, {}, {}),
    ("get", "start", False, {}, {}),
    ("post", "start", False, {"phone_number": "+86 139 0013 9000", "method": "sms"}, {}),
    ("post", "start", False, {"phone_number": "12", "method": "sms"}, {}),  # form errors, 200
    ("get", "detail", True, {}, {}),
    ("get", "check", True, {}, {}),  # a GET to an action shows the registration
    ("post", "check", True, {"code": "000000"}, {}),
    ("post", "check", True, {"code": "abc"}, {}),  # form errors, 200
    ("post", "send", True, {"method": "voice"}, {}),
    ("post", "refresh", True, {}, {}),
    ("post", "refresh", True, {}, {"X-Requested-With": "fetch"}),  # the JSON poll
]
IDS = [f"{method}-{name}-{index}" for index, (method, name, *_rest) in enumerate(REQUESTS)]


@pytest.mark.parametrize(("method", "name", "needs_registration", "data", "headers"), REQUESTS, ids=IDS)
def test_every_customer_response_says_no_store(
    client: Client,
    customer: Any,
    registration: PhoneRegistration,
    method: str,
    name: str,
    needs_registration: bool,
    data: dict[str, str],
    headers: dict[str, str],
) -> None:
    client.force_login(customer)
    path = registration_url(name, registration) if needs_registration else reverse(f"nxwa_onboarding:{name}")
    response = getattr(client, method)(path, data, headers=headers)
    assert response.status_code in (200, 302), response.status_code
    assert no_store(response), response.get("Cache-Control")


@pytest.mark.parametrize("name", ["list", "start"])
def test_the_login_redirect_says_no_store_too(client: Client, name: str) -> None:
    response = client.get(reverse(f"nxwa_onboarding:{name}"))
    assert response.status_code == 302
    assert no_store(response), response.get("Cache-Control")


def test_the_json_poll_is_json_and_no_store(
    client: Client, customer: Any, registration: PhoneRegistration
) -> None:
    client.force_login(customer)
    response = client.post(registration_url("refresh", registration), headers={"X-Requested-With": "fetch"})
    assert response["Content-Type"] == "application/json"
    assert no_store(response)
