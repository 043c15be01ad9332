"""axe-core on every customer page in every state, in English and Chinese, under a strict CSP.

Zero violations of the WCAG 2.2 A/AA rules (``conftest.WCAG_TAGS``) on: sign-in, start, start with
a form error, code entry, the code form with an error, after a wrong code, a refused send, too
many tries, setting up, registered, failed, and the list; and on a registered number's health
(name rejected, banned, restricted, name in review), setup paused, and the withdraw button.
Each state's screenshot and axe's answer go to the test output folder
(``screenshots/a11y-*.png``, ``axe/a11y-*.json``). The same walk checks what a keyboard or
screen-reader user meets: focus on the error after a failed post, one announcement for the resend
countdown, a pasted code accepted, and no CSP refusal.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from nxwa_onboarding import services
from nxwa_onboarding.choices import AccountState, NameReview
from nxwa_onboarding.models import ClientSetupCall, NumberHealth, PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud
from tests.browser.conftest import Axe, strict_csp
from tests.helpers.users import PASSWORD

FIRST, FIRST_DIGITS = "+86 138 0013 8000", "8613800138000"
SECOND, SECOND_DIGITS = "+86 139 0013 9000", "8613900139000"
VIEWPORT = {"width": 360, "height": 740}

CHECK = "form[action$='/check/'] button[type=submit]"
SEND = "form[action$='/send/'] button[type=submit]"
START = "form[action$='/start/'] button[type=submit]"


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
@pytest.mark.usefixtures("follower")
def test_every_customer_page_passes_axe(
    live_server: Any, chromium: Any, customer: Any, nxcloud: FakeNXCloud, axe: Axe, locale: str
) -> None:
    lang = locale[:2]
    context = chromium.new_context(
        viewport=VIEWPORT, device_scale_factor=2, is_mobile=True, has_touch=True, locale=locale
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    refused = strict_csp(page, live_server.url)
    base = live_server.url

    def check(state: str) -> None:
        axe.check(page, f"a11y-{lang}-{state}")

    try:
        page.goto(base + "/onboarding/start/")
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
        expect(page.locator("html")).to_have_attribute("lang", "en" if lang == "en" else "zh-hans")
        check("0-sign-in")
        page.fill("#id_username", "customer")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(re.compile(r"/onboarding/start/$"))
        check("1-start")

        # A failed post: the page comes back with the error, and focus is on the field in error.
        page.fill("#id_phone_number", "+86 123")
        page.click(START)
        expect(page.locator("#id_phone_number_error")).to_be_visible()
        expect(page.locator("#id_phone_number")).to_be_focused()
        check("2-start-error")

        page.fill("#id_phone_number", FIRST)
        page.click(START)
        expect(page.locator("#id_code")).to_be_visible()
        check("3-code-entry")

        # The resend countdown: a status note that says when, and does not tick every second
        # (test_resend_countdown_is_announced_once has the one change it makes).
        wait_note = page.locator("#nxwa-send-wait")
        before = wait_note.inner_text()
        page.wait_for_timeout(1500)
        assert wait_note.inner_text() == before

        # Paste: a code pasted with the words around it (as an SMS app copies it) and in full-width
        # digits goes in; the field never refuses a paste.
        code = nxcloud.latest_code(FIRST_DIGITS)
        assert code is not None
        page.click("#id_code")
        paste(page, "#id_code", "Your code: " + "".join(chr(0xFF10 + int(d)) for d in wrong(code)) + ".")
        assert page.input_value("#id_code") == wrong(code)

        page.fill("#id_code", "")
        page.click(CHECK)
        expect(page.locator("#id_code_error")).to_be_visible()
        expect(page.locator("#id_code")).to_be_focused()
        check("4-code-error")

        page.fill("#id_code", wrong(code))
        page.click(CHECK)
        expect(page.locator(".nxwa-message--error")).to_be_visible()
        expect(page.locator(".nxwa-message--error")).to_be_focused()
        check("5-wrong-code")

        # A stale page's button (the countdown not over yet on the server): the send is refused.
        page.evaluate(f'document.querySelector("{SEND}").disabled = false')
        page.click(SEND)
        expect(page.locator(".nxwa-message--warning")).to_be_visible()
        check("6-refused")

        for _ in range(4):
            page.fill("#id_code", wrong(code))
            page.click(CHECK)
            expect(page.locator(".nxwa-message")).to_be_visible()
        expect(page.locator("#id_code")).to_have_count(0)
        expect(page.locator("#nxwa-send-title")).not_to_have_text(re.compile("No code|没有收到"))
        check("7-too-many-tries")

        page.goto(base + "/onboarding/start/")
        page.fill("#id_phone_number", SECOND)
        page.click(START)
        code = nxcloud.latest_code(SECOND_DIGITS)
        assert code is not None
        page.fill("#id_code", code)
        page.click(CHECK)
        expect(page.locator(".nxwa-badge--client_created")).to_be_visible()
        check("8-setting-up")
        expect(page.locator(".nxwa-badge--registered")).to_be_visible(timeout=30_000)
        check("9-registered")

        PhoneRegistration.objects.filter(phone_number=FIRST_DIGITS).update(status="failed")
        page.goto(base + PhoneRegistration.objects.get(phone_number=FIRST_DIGITS).get_absolute_url())
        expect(page.locator(".nxwa-badge--failed")).to_be_visible()
        check("10-failed")

        page.goto(base + "/onboarding/")
        expect(page.locator(".nxwa-list__item")).to_have_count(2)
        check("11-list")
        # The page names its icon (served from static), so no browser asks for /favicon.ico.
        icon = page.locator("link[rel=icon]").get_attribute("href")
        assert icon
        assert page.request.get(base + icon).ok
        assert refused == [], refused
    finally:
        page.unroute_all(behavior="ignoreErrors")
        context.close()
    axe.assert_clean()


def paste(page: Any, selector: str, text: str) -> None:
    """What a paste does: a ``paste`` event with the text on the clipboard, then, unless a handler
    took it, the text inserted at the caret."""
    page.evaluate(
        """([selector, text]) => {
            const field = document.querySelector(selector);
            const data = new DataTransfer();
            data.setData('text/plain', text);
            const event = new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true});
            if (field.dispatchEvent(event)) {
                field.focus();
                document.execCommand('insertText', false, text);
            }
        }""",
        [selector, text],
    )


@pytest.mark.django_db(transaction=True)
def test_resend_countdown_is_announced_once(
    live_server: Any, phone_page: Any, customer: Any, nxcloud: FakeNXCloud, settings: Any
) -> None:
    """The note beside "Send a new code" is a status region: it says when (once, as the page
    loads) and changes once more, when the button comes on. Nothing in between."""
    settings.NXWA_ONBOARDING = {**settings.NXWA_ONBOARDING, "RESEND_COOLDOWN": 3}
    page = phone_page
    page.goto(live_server.url + "/onboarding/start/")
    page.fill("#id_username", "customer")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.fill("#id_phone_number", FIRST)
    page.click(START)
    note = page.locator("#nxwa-send-wait")
    expect(note).to_have_attribute("role", "status")
    expect(page.locator(SEND)).to_be_disabled()
    page.evaluate(
        """() => {
            window.nxwaChanges = [];
            new MutationObserver(() => window.nxwaChanges.push(
                document.querySelector('#nxwa-send-wait').textContent.trim()
            )).observe(document.querySelector('#nxwa-send-wait'),
                       {childList: true, characterData: true, subtree: true});
        }"""
    )
    expect(page.locator(SEND)).to_be_enabled(timeout=6000)
    page.wait_for_timeout(1200)
    assert page.evaluate("window.nxwaChanges") == ["You can ask for a new code now."]
    expect(page.locator(SEND)).not_to_have_attribute("aria-describedby", re.compile("."))


# -- the app's own admin views ---------------------------------------------------------------


def admin_log_in(page: Any, base: str, username: str) -> None:
    page.goto(base + reverse("admin:login"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_be_visible()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_apps_admin_views_pass_axe(
    live_server: Any, chromium: Any, staff: Any, nxcloud: FakeNXCloud, axe: Axe, locale: str
) -> None:
    """The enter-code page (no code sent, a code out, a form error, after a wrong code) and the
    confirmation pages of the actions that call NXCloud, under a strict CSP. Django's own admin
    pages are Django's (its change list applies inline styles from its scripts)."""
    lang = locale[:2]
    pending = services.create_registration(FIRST)
    services.request_code(pending, "sms")
    fresh = services.create_registration(SECOND)
    verified = services.create_registration("+86 137 0013 7000")
    PhoneRegistration.objects.filter(pk=verified.pk).update(status="verified")
    code = nxcloud.latest_code(FIRST_DIGITS)
    assert code is not None
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(10_000)
    base = live_server.url
    strict_csp(page, base)

    def check(state: str) -> None:
        axe.check(page, f"a11y-admin-{lang}-{state}")  # and what the CSP refused on the page

    def check_code_url(registration: PhoneRegistration) -> str:
        return str(base) + reverse(
            "admin:nxwa_onboarding_phoneregistration_check_code", args=[registration.pk]
        )

    try:
        admin_log_in(page, base, staff.username)
        page.goto(check_code_url(fresh))
        check("1-enter-code-no-code-sent")

        page.goto(check_code_url(pending))
        expect(page.locator("input[name=code]")).to_be_visible()
        check("2-enter-code")
        page.fill("input[name=code]", "12")
        page.click("input[type=submit][name=_check]")
        expect(page.locator(".errornote")).to_be_visible()
        check("3-enter-code-error")
        page.fill("input[name=code]", wrong(code))
        page.click("input[type=submit][name=_check]")
        expect(page.locator(".messagelist")).to_be_visible()
        check("4-after-wrong-code")

        for action, state in (
            ("send_code_sms", "5-confirm-sms"),
            ("send_code_voice", "6-confirm-voice"),
            ("create_whatsapp_client", "7-confirm-client"),
        ):
            page.goto(base + reverse("admin:nxwa_onboarding_phoneregistration_changelist"))
            page.check("#action-toggle")
            page.select_option("select[name=action]", action)
            page.click("button[name=index]")
            expect(page.locator(".nxwa-confirm-list")).to_be_visible()
            check(state)
    finally:
        page.unroute_all(behavior="ignoreErrors")
        context.close()
    axe.assert_clean()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_health_budget_and_withdraw_states_pass_axe(
    live_server: Any, chromium: Any, customer: Any, axe: Axe, locale: str
) -> None:
    """The states a number reaches after "registered" (name rejected, banned, restricted, name in
    review), setup paused by Meta's registration limit, and the withdraw button."""
    lang = locale[:2]
    now = timezone.now()
    states: dict[str, dict[str, Any]] = {
        "name-rejected": {
            "name_review": NameReview.REJECTED,
            "display_name": "acme",
            "name_rejection_reason": "NAME",
        },
        "banned": {"account_state": AccountState.BANNED},
        "restricted": {"account_state": AccountState.RESTRICTED, "quality_rating": "RED"},
        "name-pending": {"name_review": NameReview.PENDING, "messaging_limit": "TIER_2K", "pin_set": True},
    }
    pages: list[tuple[str, PhoneRegistration]] = []
    for index, (state, fields) in enumerate(states.items()):
        registration = PhoneRegistration.objects.create(
            phone_number=f"861380013{index:04d}", owner=customer, status="registered", verified_at=now
        )
        NumberHealth.objects.create(
            registration=registration, account_read_at=now, name_read_at=now, **fields
        )
        pages.append((state, registration))
    paused = PhoneRegistration.objects.create(
        phone_number="8613900139000", owner=customer, status="verified", verified_at=now
    )
    ClientSetupCall.objects.create(phone_number=paused.phone_number, locked_until=now + timedelta(hours=72))
    pages.append(("setup-paused", paused))
    pages.append(("withdraw", PhoneRegistration.objects.create(phone_number="8613700137000", owner=customer)))
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=2, is_mobile=True, locale=locale)
    page = context.new_page()
    page.set_default_timeout(10_000)
    refused = strict_csp(page, live_server.url)
    try:
        page.goto(live_server.url + "/accounts/login/")
        page.fill("#id_username", "customer")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        for state, registration in pages:
            page.goto(live_server.url + registration.get_absolute_url())
            marker = {"setup-paused": "[data-nxwa-setup-limit]", "withdraw": "form[action$='/withdraw/']"}
            expect(page.locator(marker.get(state, "[data-nxwa-health]"))).to_be_visible()
            axe.check(page, f"a11y-{lang}-health-{state}")
        assert refused == [], refused
    finally:
        page.unroute_all(behavior="ignoreErrors")
        context.close()
    axe.assert_clean()
