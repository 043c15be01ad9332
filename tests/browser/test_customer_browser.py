"""A merchant on a 360-pixel phone: log in, add the number, a wrong code, the right one, registered.

Chromium drives the live server; the in-memory NXCloud answers (``responses`` intercepts the
live server thread's calls too). Screenshots of every step go to the test output folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.users import PASSWORD

DIGITS = "8613800138000"
PHONE_VIEWPORT = {"width": 360, "height": 740}


def log_in(page: Any, base_url: str, next_path: str = "/onboarding/start/") -> None:
    page.goto(base_url + next_path)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.fill("#id_username", "customer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def fits_the_screen(page: Any) -> None:
    """Nothing is wider than the phone: no sideways scrolling."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_VIEWPORT["width"], f"page is {width}px wide"


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


@pytest.fixture
def no_js_phone_page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(
        viewport=PHONE_VIEWPORT,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        java_script_enabled=False,
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def chinese_phone_page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(
        viewport=PHONE_VIEWPORT, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("follower")
def test_customer_onboards_a_number_on_a_phone(
    live_server: Any, phone_page: Any, customer: Any, nxcloud: FakeNXCloud, screenshot_dir: Path
) -> None:
    page = phone_page

    def shot(name: str) -> None:
        fits_the_screen(page)
        page.screenshot(path=str(screenshot_dir / f"customer-{name}.png"), full_page=True)

    log_in(page, live_server.url)
    expect(page.get_by_role("heading", name="Add your WhatsApp number")).to_be_visible()
    page.get_by_label("WhatsApp business phone number").fill("+86 138-0013-8000")
    page.get_by_label("SMS").check()
    shot("1-start")
    page.get_by_role("button", name="Send me a code").click()

    expect(page.locator(".nxwa-message")).to_have_text("A code is on its way to +86 138 0013 8000 by SMS.")
    code_field = page.get_by_label("Verification code")
    expect(code_field).to_have_attribute("inputmode", "numeric")
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    expect(page.locator(".nxwa-tries")).to_have_text("You have 5 tries left.")
    resend = page.get_by_role("button", name="Send a new code")
    expect(resend).to_be_disabled()
    expect(page.locator("#nxwa-send-wait")).to_contain_text("Available in")
    shot("2-code-sent")

    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    code_field.fill(wrong(code))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator(".nxwa-message")).to_have_text("That code was not accepted. You have 4 tries left.")
    expect(page.locator(".nxwa-tries")).to_have_text("You have 4 tries left.")
    shot("3-wrong-code")

    page.get_by_label("Verification code").fill(f"{code[:3]}-{code[3:]}")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator(".nxwa-message").first).to_have_text("Your number is verified.")
    expect(page.get_by_role("heading", name="Setting up WhatsApp")).to_be_visible()
    # The page's script says it is watching, and does: it reaches "registered" by itself.
    expect(page.locator("[data-nxwa-poll-note]")).to_be_visible()
    shot("4-setting-up")

    expect(page.locator(".nxwa-badge")).to_have_text("Registered", timeout=30_000)
    expect(page.get_by_role("heading", name="All done")).to_be_visible()
    shot("5-registered")
    registration = PhoneRegistration.objects.get()
    assert registration.status == PhoneRegistration.Status.REGISTERED
    assert registration.owner == customer

    page.get_by_role("link", name="My numbers", exact=True).click()
    expect(page.locator(".nxwa-list__item")).to_have_count(1)
    shot("6-my-numbers")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("follower")
def test_the_same_flow_works_without_javascript(
    live_server: Any, no_js_phone_page: Any, customer: Any, nxcloud: FakeNXCloud, screenshot_dir: Path
) -> None:
    page = no_js_phone_page
    log_in(page, live_server.url)
    page.get_by_label("WhatsApp business phone number").fill("+86 138 0013 8000")
    page.get_by_label("Voice call").check()
    page.get_by_role("button", name="Send me a code").click()
    expect(page.locator(".nxwa-message")).to_contain_text("We are calling +86 138 0013 8000 now")

    code = nxcloud.latest_code(DIGITS)
    assert code is not None
    page.get_by_label("Verification code").fill(wrong(code))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator(".nxwa-message")).to_have_text("That code was not accepted. You have 4 tries left.")
    page.get_by_label("Verification code").fill(code)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Setting up WhatsApp")).to_be_visible()
    expect(page.locator("[data-nxwa-poll-note]")).to_be_hidden()

    # Without the script, the button does the refreshing: NXCloud's 3 -> 4 -> 5, one press each.
    for _ in range(6):
        if page.locator(".nxwa-badge").inner_text() == "Registered":
            break
        page.wait_for_timeout(2100)  # the page asks NXCloud at most every 2 seconds
        page.get_by_role("button", name="Check again").click()
    expect(page.locator(".nxwa-badge")).to_have_text("Registered")
    fits_the_screen(page)
    page.screenshot(path=str(screenshot_dir / "customer-nojs-registered.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_a_chinese_phone_gets_the_chinese_pages(
    live_server: Any, chinese_phone_page: Any, customer: Any, nxcloud: FakeNXCloud, screenshot_dir: Path
) -> None:
    page = chinese_phone_page
    log_in(page, live_server.url)
    expect(page.get_by_role("heading", name="添加您的 WhatsApp 号码")).to_be_visible()
    page.get_by_label("WhatsApp 商业电话号码").fill("+86 123")
    page.get_by_role("button", name="给我发送验证码").click()
    expect(page.locator("#id_phone_number_error")).to_contain_text("这不是有效的")
    fits_the_screen(page)
    page.screenshot(path=str(screenshot_dir / "customer-zh-1-error.png"), full_page=True)
    page.get_by_label("WhatsApp 商业电话号码").fill("+86 138 0013 8000")
    page.get_by_role("button", name="给我发送验证码").click()
    expect(page.get_by_role("heading", name="输入验证码")).to_be_visible()
    expect(page.locator(".nxwa-tries")).to_have_text("您还有 5 次机会。")
    fits_the_screen(page)
    page.screenshot(path=str(screenshot_dir / "customer-zh-2-code-sent.png"), full_page=True)
