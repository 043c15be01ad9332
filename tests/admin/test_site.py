"""The admins on a site of the host's own: every link and redirect stays on that site.

This module is its own URLconf: the default site at ``/admin/`` and a ``staff`` site at
``/staff/`` with the app's three admins, so a URL reversed on the default site by mistake shows.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.urls import path, reverse

from nxwa_onboarding import services
from nxwa_onboarding.admin import CodeRequestAdmin, PhoneRegistrationAdmin, VerificationAttemptAdmin
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.admin import PHONE, html, logged_in, message_texts

staff_site = AdminSite(name="staff")
staff_site.register(PhoneRegistration, PhoneRegistrationAdmin)
staff_site.register(CodeRequest, CodeRequestAdmin)
staff_site.register(VerificationAttempt, VerificationAttemptAdmin)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("staff/", staff_site.urls),
]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]

HREF = re.compile(r'(?:href|action)="([^"#]+)"')


def staff_url(view: str, *args: Any, model: str = "phoneregistration") -> str:
    return reverse(f"staff:nxwa_onboarding_{model}_{view}", args=args)


def assert_stays_on_the_staff_site(page: str) -> None:
    """Every admin link on the page leads to ``/staff/``, none to the default site."""
    links = HREF.findall(page)
    assert any(link.startswith("/staff/") for link in links)
    assert [link for link in links if link.startswith("/admin/")] == []


@pytest.fixture
def sent(customer: Any, nxcloud: FakeNXCloud) -> PhoneRegistration:
    registration = services.create_registration("+86 138 0013 8000", owner=customer)
    assert services.request_code(registration, "sms").outcome == "sent"
    return registration


def test_the_enter_code_url_is_named_on_the_site(sent: PhoneRegistration) -> None:
    assert (
        staff_url("check_code", sent.pk) == f"/staff/nxwa_onboarding/phoneregistration/{sent.pk}/check-code/"
    )


def test_change_page_links_to_the_enter_code_page_of_the_same_site(
    staff: Any, sent: PhoneRegistration
) -> None:
    response = logged_in(staff).get(staff_url("change", sent.pk))
    assert response.status_code == 200
    page = html(response)
    assert f'href="{staff_url("check_code", sent.pk)}"' in page
    assert_stays_on_the_staff_site(page)


def test_enter_code_page_and_its_redirect_stay_on_the_site(
    staff: Any, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    client = logged_in(staff)
    page = html(client.get(staff_url("check_code", sent.pk)))
    assert f'href="{staff_url("change", sent.pk)}"' in page  # breadcrumbs and cancel
    assert f'href="{staff_url("changelist")}"' in page
    assert 'href="/staff/"' in page
    assert_stays_on_the_staff_site(page)

    response = client.post(staff_url("check_code", sent.pk), {"code": nxcloud.latest_code(PHONE)})
    assert response.status_code == 302
    assert response["Location"] == staff_url("change", sent.pk)
    assert message_texts(response) == [
        (
            "success",
            "Code accepted: +86 138 0013 8000 is verified. "
            "Its WhatsApp client is being set up: there is nothing to press.",
        )
    ]


def test_action_confirmation_stays_on_the_site(
    staff: Any, sent: PhoneRegistration, nxcloud: FakeNXCloud
) -> None:
    client = logged_in(staff)
    data = {"action": "create_whatsapp_client", "_selected_action": [sent.pk], "index": "0"}
    confirmation = client.post(staff_url("changelist"), data)
    assert confirmation.status_code == 200
    page = html(confirmation)
    assert "not verified yet: will be skipped" in page
    assert f'href="{staff_url("changelist")}"' in page
    assert_stays_on_the_staff_site(page)

    data = {"action": "send_code_voice", "_selected_action": [sent.pk], "index": "0"}
    assert "will be refused: A code was sent moments ago." in html(client.post(staff_url("changelist"), data))


def test_audit_lists_link_to_the_registration_on_the_site(staff: Any, sent: PhoneRegistration) -> None:
    services.check_code(sent, "000000")  # a wrong code: one attempt to list
    client = logged_in(staff)
    for model in ("coderequest", "verificationattempt"):
        page = html(client.get(staff_url("changelist", model=model)))
        assert f'href="{staff_url("change", sent.pk)}"' in page
        assert_stays_on_the_staff_site(page)
