"""A staff member on the phone with a merchant: log in, open the number, a wrong code, the right one.

Chromium drives pytest-django's live server; the ``nxcloud`` fixture answers NXCloud for the
server's thread too (``responses`` patches ``requests`` process-wide).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from nxwa_onboarding import services
from nxwa_onboarding.models import PhoneRegistration, VerificationAttempt
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.users import PASSWORD

PHONE = "8613800138000"
SECRET = "test-access-secret-CANARY-7f3a"


def assert_clean(page: Any, *codes: str) -> None:
    content = page.content()
    assert SECRET not in content
    for code in codes:
        assert code not in content
    assert "Traceback" not in content


@pytest.mark.django_db(transaction=True)
def test_staff_enters_a_wrong_code_then_the_right_one(
    live_server: Any, desktop_page: Any, screenshot_dir: Path, nxcloud: FakeNXCloud, staff: Any, customer: Any
) -> None:
    registration = services.create_registration("+86 138 0013 8000", owner=customer)
    synced = services.create_registration("+86 139 0013 9000")
    PhoneRegistration.objects.filter(pk=synced.pk).update(
        status="registered", register_status=5, number_status="CONNECTED", quality_rating="GREEN"
    )
    services.request_code(registration, "sms", user=customer, channel="customer", ip="192.0.2.1")
    code = nxcloud.latest_code(PHONE)
    assert code is not None
    wrong = "000000" if code != "000000" else "999999"
    page = desktop_page
    base = live_server.url

    page.goto(base + reverse("admin:nxwa_onboarding_phoneregistration_changelist"))
    page.fill("#id_username", staff.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list .nxwa-badge--code_sent").count() == 1
    assert page.locator("#result_list .nxwa-badge--quality-green").is_visible()
    page.screenshot(path=str(screenshot_dir / "admin-1-list.png"), full_page=True)

    page.fill("#searchbar", "+86 138-0013-8000")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    page.screenshot(path=str(screenshot_dir / "admin-2-search.png"), full_page=True)

    rows.first.locator("a", has_text="+86 138 0013 8000").click()
    page.wait_for_selector(".object-tools")
    assert "Code sends are refused: A code was sent moments ago." in page.inner_text(".nxwa-notices")
    page.screenshot(path=str(screenshot_dir / "admin-3-registration.png"), full_page=True)

    page.click("text=Enter verification code")
    page.wait_for_selector("input[name=code]")
    assert "Enter verification code" in page.inner_text(".breadcrumbs")
    page.screenshot(path=str(screenshot_dir / "admin-4-enter-code.png"), full_page=True)

    page.fill("input[name=code]", wrong)
    page.click("input[type=submit][name=_check]")
    warning = page.wait_for_selector(".messagelist .warning")
    assert warning is not None
    assert warning.inner_text() == "NXCloud did not accept the code. 4 tries left on this code (1 of 5 used)."
    assert_clean(page, wrong, code)
    # Still on the code form, the message above it: type the right code straight away.
    assert "Enter verification code" in page.inner_text(".breadcrumbs")
    page.screenshot(path=str(screenshot_dir / "admin-5-wrong-code.png"), full_page=True)

    page.fill("input[name=code]", f"{code[:3]}-{code[3:]}")
    page.click("input[type=submit][name=_check]")
    success = page.wait_for_selector(".messagelist .success")
    assert success is not None
    assert success.inner_text() == (
        "Code accepted: +86 138 0013 8000 is verified. "
        "Its WhatsApp client is being set up: there is nothing to press."
    )
    # The accepted code started the setup by itself (the suite's immediate Tasks backend runs it
    # on commit): the page already shows the client created.
    assert "Client created" in page.inner_text(".field-status_badge")
    assert_clean(page, wrong, code)
    page.screenshot(path=str(screenshot_dir / "admin-6-accepted.png"), full_page=True)

    registration.refresh_from_db()
    assert registration.status == PhoneRegistration.Status.CLIENT_CREATED
    assert len(nxcloud.calls_to("createClient")) == 1
    assert list(VerificationAttempt.objects.order_by("created_at").values_list("outcome", "channel")) == [
        ("rejected", "admin"),
        ("accepted", "admin"),
    ]


@pytest.mark.django_db(transaction=True)
def test_staff_sends_codes_after_confirming(
    live_server: Any, desktop_page: Any, screenshot_dir: Path, nxcloud: FakeNXCloud, staff: Any
) -> None:
    first = services.create_registration("+86 138 0013 8000")
    services.create_registration("+86 139 0013 9000")
    services.request_code(first, "sms")  # in its resend cooldown: will be refused
    page = desktop_page
    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", staff.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(live_server.url + reverse("admin:nxwa_onboarding_phoneregistration_changelist"))
    page.check("#action-toggle")
    page.select_option("select[name=action]", "send_code_sms")
    page.click("button[name=index]")
    page.wait_for_selector(".nxwa-confirm-list")
    assert "will be refused: A code was sent moments ago." in page.inner_text(".nxwa-confirm-list")
    assert len(nxcloud.calls_to("getCode")) == 1
    page.screenshot(path=str(screenshot_dir / "admin-7-send-confirmation.png"), full_page=True)

    page.click("input[type=submit][value='Yes, send the codes']")
    page.wait_for_selector(".messagelist")
    assert page.inner_text(".messagelist .success") == "Code sent by SMS to 1 number: +86 139 0013 9000."
    assert page.inner_text(".messagelist .warning").startswith(
        "Refused for 1 number (+86 138 0013 8000): A code was sent moments ago."
    )
    assert len(nxcloud.calls_to("getCode")) == 2
    assert_clean(page, *(c.code for codes in nxcloud.inbox.values() for c in codes))
    page.screenshot(path=str(screenshot_dir / "admin-8-sent.png"), full_page=True)
