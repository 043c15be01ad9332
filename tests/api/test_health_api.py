"""The API's side of a number's life after "registered": its health as a typed object, when
setup can be tried again, withdrawing a number not yet verified, and the open-limit problem."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from nxwa_onboarding.choices import AccountState, NameReview
from nxwa_onboarding.models import ClientSetupCall, NumberHealth, PhoneRegistration
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


# -- withdrawing -------------------------------------------------------------------------------------


def test_delete_withdraws_a_number_not_yet_verified_and_frees_the_slot(
    api: ApiClient, customer: Any, nxcloud: FakeNXCloud
) -> None:
    with rules(MAX_OPEN_REGISTRATIONS_PER_OWNER=1):
        created = start(api, NUMBERS[0])
        response = api.delete(f"/registrations/{created['id']}/")
        assert response.status_code == 204
        start(api, NUMBERS[1])
    withdrawn = PhoneRegistration.objects.get(public_id=created["id"])
    assert (withdrawn.status, withdrawn.closed_by) == (Status.CLOSED, customer)
    assert withdrawn.closed_at is not None
    assert api.delete(f"/registrations/{created['id']}/").status_code == 204  # again: nothing to do
    assert api.get(f"/registrations/{created['id']}/").json()["status"] == "closed"


def test_delete_refuses_a_verified_number(api: ApiClient, customer: Any) -> None:
    now = timezone.now()
    registration = PhoneRegistration.objects.create(
        phone_number="8613800138000", owner=customer, status=Status.REGISTERED, verified_at=now
    )
    body = problem(api.delete(f"/registrations/{registration.public_id}/"), 409, "cannot-withdraw")
    assert "support" in body["detail"]
    registration.refresh_from_db()
    assert registration.status == Status.REGISTERED


def test_delete_needs_csrf_and_is_owner_only(
    api: ApiClient, other_customer: Any, nxcloud: FakeNXCloud
) -> None:
    created = start(api, NUMBERS[0])
    problem(api.delete(f"/registrations/{created['id']}/", csrf=False), 403, "csrf")
    other = ApiClient()
    other.client.force_login(other_customer)
    problem(other.delete(f"/registrations/{created['id']}/"), 404, "not-found")
    assert PhoneRegistration.objects.get(public_id=created["id"]).status == Status.CODE_SENT


# -- health and setup, typed ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "notice", "reason"),
    [
        ({"name_review": NameReview.REJECTED, "name_rejection_reason": "NAME_FORMAT"}, "name", "NAME_FORMAT"),
        ({"account_state": AccountState.BANNED}, "account", ""),
        ({"account_state": AccountState.RESTRICTED, "account_reason": "SPAM"}, "account", "SPAM"),
    ],
)
def test_the_registration_carries_its_health_as_a_typed_object(
    api: ApiClient, customer: Any, fields: dict[str, Any], notice: str, reason: str
) -> None:
    now = timezone.now()
    registration = PhoneRegistration.objects.create(
        phone_number="8613800138000", owner=customer, status=Status.REGISTERED, verified_at=now
    )
    NumberHealth.objects.create(
        registration=registration, account_read_at=now, name_read_at=now, quality_rating="RED", **fields
    )
    body = api.get(f"/registrations/{registration.public_id}/").json()
    found = body["health"]
    assert found["tone"] == "problem"
    assert found["quality_rating"] == "RED"
    [item] = found["notices"]
    assert (item["kind"], item["tone"], item["reason"]) == (notice, "problem", reason)
    assert item["next_step"]
    zh = api.get(f"/registrations/{registration.public_id}/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert zh["health"]["notices"][0]["title"] != item["title"]


def test_before_registered_there_is_no_health_and_a_spent_budget_says_when(
    api: ApiClient, customer: Any
) -> None:
    now = timezone.now()
    registration = PhoneRegistration.objects.create(
        phone_number="8613800138000", owner=customer, status=Status.VERIFIED, verified_at=now
    )
    body = api.get(f"/registrations/{registration.public_id}/").json()
    assert (body["health"], body["setup_again_at"]) == (None, None)
    until = now + timedelta(hours=72)
    ClientSetupCall.objects.create(phone_number="8613800138000", locked_until=until, finished_at=now)
    body = api.get(f"/registrations/{registration.public_id}/").json()
    assert body["setup_again_at"] is not None
    assert abs((datetime.fromisoformat(body["setup_again_at"]) - until).total_seconds()) < 1
