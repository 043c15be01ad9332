"""The funnel page as staff see it in the demo: the seeded data, drawn, under a strict CSP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from tests.helpers.demo import run_demo_setup

#: As strict as a host would set it: nothing inline, nothing from elsewhere.
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@pytest.mark.django_db(transaction=True)
def test_the_funnel_page_of_the_demo(live_server: Any, desktop_page: Any, screenshot_dir: Path) -> None:
    run_demo_setup()
    page = desktop_page
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    def strict(route: Any) -> None:
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})

    page.route("**/funnel/**", strict)
    page.goto(live_server.url + reverse("admin:login"))
    page.fill("#id_username", "staff")
    page.fill("#id_password", "staff-demo-pass")
    page.click("input[type=submit]")
    page.goto(live_server.url + reverse("admin:nxwa_onboarding_phoneregistration_changelist"))
    page.click("a.nxwa-funnel-link")
    page.wait_for_selector("svg.nxwa-chart")
    assert page.locator("svg.nxwa-chart").count() == 3
    assert page.locator("rect.nxwa-chart__bar--step3").bounding_box()["width"] > 0
    # The bars take their colours from the stylesheet, which loaded under the policy.
    fill = page.eval_on_selector("rect.nxwa-chart__bar--failed", "e => getComputedStyle(e).fill")
    assert fill == "rgb(198, 40, 40)"
    table = page.inner_text("table.nxwa-funnel-table").lower()
    assert "registered" in table
    assert "of the step before" in table
    assert violations == []
    page.screenshot(path=str(screenshot_dir / "admin-funnel.png"), full_page=True)
