# ruff: noqa: RUF001, RUF002, RUF003  (Chinese punctuation and the sizes' × on purpose)
"""Issue 26: a first day with the demo, as a merchant and as staff, at phone size (390×844) and
desktop size (1280×800), in English and Chinese.

The demo's own seed (``demo_setup``, as ``make demo`` runs it) on the live server, NXCloud played
by the sandbox mounted on it (no follower: no state walked here waits on one). Every state is screenshotted
(``test-output/screenshots/day-<size>-<lang>-<state>.png``) and asserted: no sentence said twice
on a page; merchant pages name no time zone and write dates as the language does; at 1280 px the
admin's registration, attempt, code-request and webhook lists and a registration's page fit the
window (no horizontal scroll, in the page or in a list's own box) and the object tools do not
cover the heading; axe-core finds no violation on the merchant's pages, the app's confirmation
page and the sandbox inbox.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse
from playwright.sync_api import expect

from nxwa_onboarding import services
from nxwa_onboarding.models import WebhookDelivery
from nxwa_onboarding.sandbox.models import SandboxMessage
from tests.browser.conftest import Axe
from tests.helpers.demo import run_demo_setup

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
LOCALES = {"en": "en-US", "zh": "zh-CN"}
CUSTOMER = ("customer", "customer-demo-pass")
STAFF = ("staff", "staff-demo-pass")
#: A number the demo's seed leaves alone, and its registered one (a send to it is refused).
NEW_NUMBER, NEW_DIGITS = "+86 138 0013 8299", "8613800138299"
REGISTERED_DIGITS = "8615012345104"

#: A zone's name in any form: UTC, GMT, UTC+8, or an abbreviation such as CST or PDT.
ZONE = re.compile(r"\b(?:UTC|GMT)(?:[+-]\d{1,2}(?::\d\d)?)?\b|\b[A-Z]{1,3}[SD]?T\b")
#: A date as the language writes it (Django's DATE_FORMAT): "Dec. 7, 2026", "2026年12月7日".
DATE = {
    "en": re.compile(r"^Added [A-Z][a-z]+\.? \d{1,2}, \d{4}$"),
    "zh": re.compile(r"\d{4}年\d{1,2}月\d{1,2}日"),
}
NUMERIC_DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b")
#: Where one sentence ends and the next begins: after . ! ? and a space, or after 。！？.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")
CJK = re.compile(r"[\u4e00-\u9fff]")

FITS = """() => {
  const over = [];
  const page = document.documentElement;
  if (page.scrollWidth > window.innerWidth) over.push(`page ${page.scrollWidth} > ${window.innerWidth}`);
  for (const box of document.querySelectorAll('#changelist .results, .inline-group, #content-main')) {
    if (box.scrollWidth > box.clientWidth + 1)
      over.push(`${box.id || box.className} ${box.scrollWidth} > ${box.clientWidth}`);
  }
  return over;
}"""
OVERLAPS = """() => {
  const tools = document.querySelector('#content .object-tools');
  if (!tools) return [];
  const t = tools.getBoundingClientRect();
  return [...document.querySelectorAll('#content > h1, #content > h2')]
    .map(h => [h.innerText, h.getBoundingClientRect()])
    .filter(([, h]) => t.left < h.right && h.left < t.right && t.top < h.bottom && h.top < t.bottom)
    .map(([text]) => text);
}"""


def repeated_sentences(text: str) -> list[str]:
    """Sentences said more than once in ``text`` (a page's visible words)."""
    sentences = []
    for cell in re.split(r"[\t\n]", text):  # a table's cells, a page's lines
        for part in SENTENCE_END.split(cell):
            sentence = part.strip()
            if not sentence.endswith((".", "!", "?", "。", "！", "？")):
                continue  # a label, a heading, a button
            # Words, not a date or a time ("7, 2026, 5:57 p.m." ends with a full stop too).
            if len(re.findall(r"[A-Za-z]{2,}", sentence)) >= 3 or len(CJK.findall(sentence)) >= 6:
                sentences.append(sentence)
    return [sentence for sentence, count in Counter(sentences).items() if count > 1]


class Walk:
    """One person's walk at one size and language: screenshots, and the checks of every page."""

    def __init__(self, page: Any, axe: Axe, base: str, size: str, lang: str) -> None:
        self.page, self.axe, self.base, self.size, self.lang = page, axe, base, size, lang
        self.problems: list[str] = []

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def words(self) -> str:
        return str(self.page.inner_text("body"))

    def state(self, name: str, *, merchant: bool = False, fits: bool = False, run_axe: bool = False) -> str:
        label = f"day-{self.size}-{self.lang}-{name}"
        if run_axe:
            self.axe.check(self.page, label)  # screenshots too
        else:
            self.page.screenshot(path=str(self.axe.output / "screenshots" / f"{label}.png"), full_page=True)
        words = self.words()
        for sentence in repeated_sentences(words):
            self.problems.append(f"{label}: said twice: {sentence!r}")
        if merchant:
            for zone in ZONE.findall(words):
                self.problems.append(f"{label}: a time zone on a merchant's page: {zone!r}")
            for date in NUMERIC_DATE.findall(words):
                self.problems.append(f"{label}: a date in digits only: {date!r}")
        if fits and self.size == "desktop":
            for overflow in self.page.evaluate(FITS):
                self.problems.append(f"{label}: wider than the window: {overflow}")
            for heading in self.page.evaluate(OVERLAPS):
                self.problems.append(f"{label}: the object tools cover the heading {heading!r}")
        return words

    def sign_in(self, path: str, user: tuple[str, str], submit: str) -> None:
        self.go(path)
        self.page.fill("#id_username", user[0])
        self.page.fill("#id_password", user[1])
        self.page.click(submit)


def merchant_walk(walk: Walk) -> None:
    page = walk.page
    walk.go("/onboarding/")
    expect(page.locator("#id_username")).to_be_visible()
    walk.state("m0-sign-in", merchant=True, run_axe=True)
    walk.sign_in(page.url.removeprefix(walk.base), CUSTOMER, "button[type=submit]")
    expect(page.locator(".nxwa-list")).to_be_visible()
    walk.state("m1-list", merchant=True, run_axe=True)
    dates = page.locator(".nxwa-list .nxwa-muted").all_inner_texts()
    assert dates, "the list shows when each number was added"
    for date in dates:
        if not DATE[walk.lang].search(date):
            walk.problems.append(f"m1-list: {date!r} is not a date as {walk.lang} writes it")

    walk.go("/onboarding/start/")
    page.fill("#id_phone_number", NEW_NUMBER)
    page.click("form[action$='/start/'] button[type=submit]")
    expect(page.locator("#id_code")).to_be_visible()
    words = walk.state("m2-code", merchant=True, run_axe=True)
    assert re.search(r"10 minutes|10 分钟", words), words  # how long, not at which clock

    message = SandboxMessage.objects.filter(phone_number=NEW_DIGITS).order_by("-id").first()
    assert message is not None
    wrong = "000000" if message.code != "000000" else "111111"
    for _ in range(5):
        page.fill("#id_code", wrong)
        page.click("form[action$='/check/'] button[type=submit]")
        page.wait_for_load_state()
        if not page.locator("#id_code").count():
            break
    expect(page.locator("#id_code")).to_have_count(0)
    words = walk.state("m3-too-many-tries", merchant=True, run_axe=True)
    waits = re.findall(r"\d+ seconds|\d+ 秒", words)
    if len(waits) != 1:
        walk.problems.append(f"m3-too-many-tries: the cooldown said {len(waits)} times: {waits}")

    walk.go("/onboarding/")
    page.locator(".nxwa-list__link", has_text="+86 150").first.click()
    expect(page.locator(".nxwa-done")).to_be_visible()
    walk.state("m4-registered", merchant=True, run_axe=True)


def staff_walk(walk: Walk) -> None:
    page = walk.page
    walk.sign_in(reverse("admin:login"), STAFF, "input[type=submit]")
    expect(page.locator("#user-tools")).to_be_visible()
    for name, url in (
        ("s1-registrations", "admin:nxwa_onboarding_phoneregistration_changelist"),
        ("s2-attempts", "admin:nxwa_onboarding_verificationattempt_changelist"),
        ("s3-code-requests", "admin:nxwa_onboarding_coderequest_changelist"),
        ("s4-webhooks", "admin:nxwa_onboarding_webhookdelivery_changelist"),
    ):
        walk.go(reverse(url))
        expect(page.locator("#result_list")).to_be_visible()
        walk.state(name, fits=True)

    walk.go(reverse("admin:nxwa_onboarding_phoneregistration_changelist") + "?q=8613800138102")
    page.locator("#result_list tbody tr a").first.click()
    expect(page.locator(".object-tools")).to_be_visible()
    walk.state("s5-registration", fits=True)

    # A send that every selected number would refuse: said so, and only "Back".
    walk.go(reverse("admin:nxwa_onboarding_phoneregistration_changelist") + f"?q={REGISTERED_DIGITS}")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "send_code_sms")
    page.click("button[name=index]")
    expect(page.locator(".nxwa-confirm-list")).to_be_visible()
    walk.state("s6-send-nothing", fits=True, run_axe=True)
    offered = page.locator("#content input[type=submit], #content a.cancel-link").all_inner_texts()
    offered += page.locator("#content input[type=submit]").evaluate_all("els => els.map(e => e.value)")
    if [text for text in offered if text] != [page.locator("#content a.cancel-link").inner_text()]:
        walk.problems.append(f"s6-send-nothing: offers {offered}, not only Back")

    walk.go(reverse("nxwa_sandbox:inbox"))
    walk.state("s7-sandbox-inbox", run_axe=True)
    walk.go(reverse("nxwa_sandbox:inbox_number", args=[REGISTERED_DIGITS]))
    expect(page.locator("button[name=bind]")).to_be_visible()
    walk.state("s8-sandbox-number", run_axe=True)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lang", list(LOCALES))
@pytest.mark.parametrize("size", list(SIZES))
def test_a_first_day_with_the_demo(
    sandbox_server: str, chromium: Any, axe: Axe, size: str, lang: str
) -> None:
    run_demo_setup()
    with override_settings(NXWA_ONBOARDING={**settings.NXWA_ONBOARDING, "WEBHOOK_BASE_URL": sandbox_server}):
        application = services.create_application("Acme")  # createApp at the sandbox
    WebhookDelivery.objects.create(
        application=application,
        kind="account_update",
        event="DISABLED_UPDATE",
        phone_number="8613700137000",
        outcome="unmatched",
        detail="no open registration of this application has the number",
        dedupe_key="d" * 64,
    )
    problems: list[str] = []
    for role, walk_as in (("merchant", merchant_walk), ("staff", staff_walk)):
        options: dict[str, Any] = {"viewport": SIZES[size], "locale": LOCALES[lang]}
        if size == "phone":
            options.update(device_scale_factor=2, is_mobile=True, has_touch=True)
        context = chromium.new_context(**options)
        page = context.new_page()
        page.set_default_timeout(15_000)
        walk = Walk(page, axe, sandbox_server, size, lang)
        try:
            walk_as(walk)
        finally:
            context.close()
        problems += [f"{role}: {problem}" for problem in walk.problems]
    assert not problems, "\n".join(problems)
    axe.assert_clean()
