"""The sandbox's inbox buttons: bind a number to an application, and send that application's
webhook a signed callback (a ban, a quality downgrade, a name decision) as NXCloud would."""

from __future__ import annotations

import time
from typing import Any

import pytest
import responses
from django.test import Client
from django.utils import timezone

from nxwa_onboarding.conf import conf
from nxwa_onboarding.sandbox.models import SandboxApp, SandboxNumber
from nxwa_onboarding.sandbox.state import DatabaseState
from nxwa_onboarding.webhooks.signature import CallbackSignature

pytestmark = pytest.mark.django_db
PHONE = "8613800138000"
WEBHOOK = "https://onboarding.example.com/nxwa/webhooks/tok/"


@pytest.fixture
def staff_client(client: Client, staff: Any) -> Client:
    client.force_login(staff)
    return client


def act(client: Client, **data: str) -> Any:
    return client.post(f"/sandbox/nxcloud/inbox/{PHONE}/act/", data)


def test_bind_lists_the_number_under_that_application_only(staff_client: Client) -> None:
    app = SandboxApp.objects.create(app_name="Acme", webhook=WEBHOOK, app_key="sandbox-acme")
    SandboxNumber.objects.create(phone_number=PHONE, verified_at=time_now(), client_created_at=time_now())
    state = DatabaseState()
    assert [n for n, _s in state.register_statuses(conf.APP_KEY)] == [PHONE]
    assert act(staff_client, bind="1", app_key=app.app_key).status_code == 302
    assert state.register_statuses(conf.APP_KEY) == []
    assert [n for n, _s in state.register_statuses(app.app_key)] == [PHONE]
    assert act(staff_client, bind="1", app_key="not-an-app").status_code == 404


def time_now() -> Any:
    return timezone.now()


@pytest.mark.parametrize(
    ("simulation", "field"),
    [
        ("ban", "account_update"),
        ("quality_downgrade", "phone_number_quality_update"),
        ("name_rejected", "phone_number_name_update"),
    ],
)
def test_a_simulation_posts_a_signed_callback_to_the_stored_webhook(
    staff_client: Client, simulation: str, field: str
) -> None:
    SandboxApp.objects.create(app_name="Acme", webhook=WEBHOOK, app_key="sandbox-acme")
    SandboxNumber.objects.create(phone_number=PHONE, verified_at=time_now(), app_key="sandbox-acme")
    with responses.RequestsMock() as rsps:
        rsps.post(WEBHOOK, json={"code": 0})
        response = act(staff_client, simulate=simulation)
        (call,) = rsps.calls
    assert response.status_code == 302
    assert "HTTP+200" in response["Location"]
    body = call.request.body
    assert isinstance(body, bytes)
    assert field.encode() in body
    signature = CallbackSignature(
        call.request.headers,
        access_key=conf.ACCESS_KEY,
        access_secret=conf.ACCESS_SECRET,
        now_ms=int(time.time() * 1000),
    )
    signature.feed(body)
    assert signature.problem() == ""


def test_an_unbound_number_sends_nothing(staff_client: Client) -> None:
    SandboxNumber.objects.create(phone_number=PHONE, verified_at=time_now())
    with responses.RequestsMock() as rsps:
        response = act(staff_client, simulate="ban")
        assert len(rsps.calls) == 0
    assert "bind" in response["Location"]


def test_the_buttons_are_staff_only(client: Client, customer: Any) -> None:
    SandboxNumber.objects.create(phone_number=PHONE, verified_at=time_now())
    client.force_login(customer)
    assert act(client, simulate="ban").status_code == 403
