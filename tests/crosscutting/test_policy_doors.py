"""An application's policy holds at every door: the customer page, the API, the admin and the
operator commands refuse what it refuses, in the same words, without calling NXCloud; and the
admin refuses a wrong policy naming the key."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from nxwa_onboarding import services
from nxwa_onboarding.models import Application, PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud
from nxwa_onboarding.texts import refusal_text
from tests.helpers.admin import act, logged_in, message_texts
from tests.helpers.api import ApiClient, problem
from tests.helpers.pages import shown
from tests.helpers.services import rules

pytestmark = pytest.mark.django_db

#: A mobile the settings would send an SMS to; the policy offers voice calls only.
PHONE = "+86 138 0013 8000"
VOICE_ONLY = {"ALLOWED_METHODS": ["voice"], "MAX_CHECK_ATTEMPTS": 2}


@pytest.fixture
def shop(customer: Any) -> Application:
    """The customer's own application (APPLICATION_FOR_OWNER's default picks it), with a policy."""
    return Application.objects.create(
        name="Shop", app_key="shop-key", outcome="added", owner=customer, policy=VOICE_ONLY
    )


def words() -> str:
    return refusal_text("method_policy")


def test_the_page(shop: Application, customer: Any, client: Client, nxcloud: FakeNXCloud) -> None:
    client.force_login(customer)
    response = client.post(reverse("nxwa_onboarding:start"), {"phone_number": PHONE, "method": "sms"})
    assert words() in " ".join(shown(client, response))
    registration = PhoneRegistration.objects.get()
    assert registration.application == shop
    assert nxcloud.calls_to("getCode") == []
    client.post(
        reverse("nxwa_onboarding:send", kwargs={"public_id": registration.public_id}), {"method": "voice"}
    )
    assert [call.payload["method"] for call in nxcloud.calls_to("getCode")] == ["voice"]


def test_the_api(shop: Application, customer: Any, nxcloud: FakeNXCloud) -> None:
    api = ApiClient()
    api.client.force_login(customer)
    created = api.post("/registrations/", {"phone_number": PHONE, "method": "sms"})
    body = created.json()
    assert body["last_code_request"]["refusal"]["reason"] == "method_policy"
    assert body["state"]["attempts_allowed"] == 2  # the policy's MAX_CHECK_ATTEMPTS
    answer = problem(
        api.post(f"/registrations/{body['id']}/send/", {"method": "sms"}), 422, "refused:method_policy"
    )
    assert answer["detail"] == words()
    assert nxcloud.calls_to("getCode") == []


def test_the_admin(shop: Application, staff: Any, nxcloud: FakeNXCloud) -> None:
    registration = services.create_registration(PHONE, application=shop)
    response = act(logged_in(staff), "send_code_sms", [registration], confirm=True)
    assert any(words() in text for _level, text in message_texts(response))
    assert nxcloud.calls_to("getCode") == []


def test_the_commands(shop: Application, nxcloud: FakeNXCloud) -> None:
    services.create_registration(PHONE, application=shop)
    with pytest.raises(CommandError) as raised:
        call_command("nxwa_request_code", PHONE)
    assert words() in str(raised.value)
    assert nxcloud.calls_to("getCode") == []
    call_command("nxwa_request_code", PHONE, "--voice")
    assert len(nxcloud.calls_to("getCode")) == 1


def test_the_admin_refuses_a_wrong_policy_naming_the_key(shop: Application, superuser: Any) -> None:
    client = logged_in(superuser)
    url = reverse("admin:nxwa_onboarding_application_change", args=[shop.pk])
    data = {"name": "Shop", "policy": '{"MAX_SENDS_PER_DAY": 0, "SEND_BUDGET": {"GB": 5}}'}
    page = client.post(url, data).content.decode()
    assert "MAX_SENDS_PER_DAY must be" in page
    assert "SEND_BUDGET is not a setting a policy can change" in page
    shop.refresh_from_db()
    assert shop.policy == VOICE_ONLY  # nothing changed
    response = client.post(url, {"name": "Shop", "policy": '{"SEND_BUDGETS": {"GB": 5}}'})
    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.policy == {"SEND_BUDGETS": {"GB": 5}}


def test_the_admins_add_form_reads_the_owners_policy(superuser: Any, customer: Any) -> None:
    """Settings: CN only. The customer's application: GB only (national numbers read as GB)."""
    Application.objects.create(
        name="UK shop",
        app_key="uk-key",
        outcome="added",
        owner=customer,
        policy={"ALLOWED_REGIONS": ["GB"], "DEFAULT_REGION": "GB"},
    )
    client = logged_in(superuser)
    url = reverse("admin:nxwa_onboarding_phoneregistration_add")
    with rules(ALLOWED_REGIONS=["CN"], DEFAULT_REGION="CN"):
        page = client.post(url, {"phone_number": PHONE, "owner": customer.pk}).content.decode()
        assert "cannot be used here" in page
        response = client.post(url, {"phone_number": "07400 100123", "owner": customer.pk})
        assert response.status_code == 302, response.content.decode()[:3000]
        registration = PhoneRegistration.objects.get()
        assert (registration.phone_number, registration.region) == ("447400100123", "GB")
        page = client.post(url, {"phone_number": "+44 7400 100124"}).content.decode()  # no owner: CN only
        assert "cannot be used here" in page
