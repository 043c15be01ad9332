"""A code typed in full-width or Arabic-Indic digits is the same code on every face: the customer
page, the admin's enter-code page, the command (the API is ``services.check_code``, in
test_services_outcomes). NXCloud always gets ASCII digits."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from nxwa_onboarding import services
from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud

PHONE = "8613800138000"
FULL_WIDTH = {ord(d): chr(0xFF10 + int(d)) for d in "0123456789"}
ARABIC_INDIC = {ord(d): chr(0x0660 + int(d)) for d in "0123456789"}


def typed(code: str, script: str) -> str:
    if script == "full-width":
        return f"{code[:3]}\uff0d{code[3:]}".translate(FULL_WIDTH)  # full-width dash too
    return f"{code[:3]} {code[3:]}".translate(ARABIC_INDIC)


def sent_code(nxcloud: FakeNXCloud, owner: Any = None) -> tuple[PhoneRegistration, str]:
    registration = services.start_registration(PHONE, owner=owner)
    code = nxcloud.latest_code(PHONE)
    assert code is not None
    return registration, code


def checked_codes(nxcloud: FakeNXCloud) -> list[str]:
    return [call.payload["code"] for call in nxcloud.calls_to("checkCode")]


@pytest.mark.django_db
@pytest.mark.parametrize("script", ["full-width", "arabic-indic"])
def test_customer_page(client: Client, customer: Any, nxcloud: FakeNXCloud, script: str) -> None:
    registration, code = sent_code(nxcloud, owner=customer)
    client.force_login(customer)
    url = reverse("nxwa_onboarding:check", kwargs={"public_id": registration.public_id})
    response = client.post(url, {"code": typed(code, script)})
    assert response.status_code == 302
    assert checked_codes(nxcloud) == [code]
    registration.refresh_from_db()
    assert registration.is_verified


@pytest.mark.django_db
@pytest.mark.parametrize("script", ["full-width", "arabic-indic"])
def test_admin_enter_code_page(client: Client, staff: Any, nxcloud: FakeNXCloud, script: str) -> None:
    registration, code = sent_code(nxcloud)
    client.force_login(staff)
    url = reverse("admin:nxwa_onboarding_phoneregistration_check_code", args=[registration.pk])
    response = client.post(url, {"code": typed(code, script), "_check": "1"})
    assert response.status_code == 302
    assert checked_codes(nxcloud) == [code]
    registration.refresh_from_db()
    assert registration.is_verified


@pytest.mark.django_db
@pytest.mark.parametrize("script", ["full-width", "arabic-indic"])
def test_command(nxcloud: FakeNXCloud, script: str) -> None:
    registration, code = sent_code(nxcloud)
    out = StringIO()
    call_command(
        "nxwa_check_code", PHONE, "--no-create-client", stdin=StringIO(typed(code, script) + "\n"), stdout=out
    )
    assert checked_codes(nxcloud) == [code]
    registration.refresh_from_db()
    assert registration.is_verified
