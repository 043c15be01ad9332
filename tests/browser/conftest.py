"""Playwright driving the system's Chromium against pytest-django's live server.

Never ``playwright install``: the browser is Debian's /usr/bin/chromium (CI installs it).
Screenshots go to ``test-output/screenshots/`` (or ``$NXWA_TEST_OUTPUT/screenshots``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("NXWA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Playwright's sync API runs an event loop in this thread; Django then refuses ORM calls from it
# unless told the test owns the thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    root = Path(os.environ.get("NXWA_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output"))
    path = root / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (CI does this in .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def desktop_page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def phone_page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="en-US",
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


# -- accessibility: axe-core, injected into the page -------------------------------------------

#: WCAG 2.0/2.1/2.2 levels A and AA: the rules the pages are held to.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
#: Where ``make axe`` puts axe-core (from the npm registry); ``NXWA_AXE_JS`` overrides it.
AXE_JS = Path(__file__).resolve().parents[2] / ".cache" / "axe-core-4.14.1" / "axe.min.js"
#: A strict policy: nothing inline (script, style attribute, <style>), nothing from elsewhere.
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class Axe:
    """Runs axe-core on a page, keeps a screenshot and axe's answer per page state.

    ``check`` collects; ``assert_clean`` fails with every violation of every state at once, so
    one run shows all that is wrong (rule id, the elements, axe's summary)."""

    def __init__(self, source: str, output: Path) -> None:
        self.source = source
        self.output = output
        self.found: dict[str, list[dict[str, Any]]] = {}
        self.refused: dict[str, list[str]] = {}

    def check(self, page: Any, name: str) -> list[dict[str, Any]]:
        page.screenshot(path=str(self.output / "screenshots" / f"{name}.png"), full_page=True)
        # What this document's CSP refused (strict_csp), read before axe's own probes run.
        refused = page.evaluate("window.__nxwaRefused || []")
        if refused:
            self.refused[name] = refused
        if not page.evaluate("typeof window.axe === 'object'"):
            # evaluate() runs outside the page's Content-Security-Policy, a <script> would not.
            page.evaluate(self.source + "\n;undefined")
        result = page.evaluate(
            "tags => window.axe.run(document, "
            "{runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
            WCAG_TAGS,
        )
        violations: list[dict[str, Any]] = result["violations"]
        (self.output / "axe" / f"{name}.json").write_text(
            json.dumps(violations, indent=1, ensure_ascii=False), encoding="utf-8"
        )
        self.found[name] = violations
        return violations

    def summary(self) -> str:
        lines = []
        for name, violations in self.found.items():
            for violation in violations:
                targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
                lines.append(
                    f"{name}: {violation['id']} ({violation['impact']}) x{len(targets)} {targets[:4]}"
                )
                lines.append(f"    {violation['help']}")
                first = violation["nodes"][0].get("failureSummary", "").splitlines()
                lines.extend(f"    {line}" for line in first[:4])
        return "\n".join(lines)

    def assert_clean(self) -> None:
        assert self.found, "axe checked no page"
        assert not any(self.found.values()), "axe-core found WCAG A/AA violations:\n" + self.summary()
        assert not self.refused, f"the Content-Security-Policy refused: {self.refused}"


@pytest.fixture(scope="session")
def axe_source() -> str:
    path = Path(os.environ.get("NXWA_AXE_JS", AXE_JS))
    if not path.exists():
        pytest.fail(f"{path} is missing: `make axe` fetches axe-core from the npm registry")
    return path.read_text(encoding="utf-8")


@pytest.fixture
def axe(axe_source: str, screenshot_dir: Path) -> Axe:
    (screenshot_dir.parent / "axe").mkdir(parents=True, exist_ok=True)
    return Axe(axe_source, screenshot_dir.parent)


def strict_csp(page: Any, live_server_url: str) -> list[str]:
    """Serve the live server's pages with ``STRICT_CSP`` (as a host with Django 6's CSP middleware
    would). Returns the list that collects what Chromium refused (its console messages, from
    the whole visit); ``Axe.check`` reads each page state's own refusals."""
    refused: list[str] = []

    def add_policy(route: Any) -> None:
        response = route.fetch(max_redirects=0)
        headers = dict(response.headers)
        if headers.get("content-type", "").startswith("text/html"):
            headers["content-security-policy"] = STRICT_CSP
        route.fulfill(response=response, headers=headers)

    page.route(live_server_url + "/**", add_policy)
    # Per document, so each page state's own refusals can be read (Axe.check does).
    page.add_init_script(
        "window.__nxwaRefused = [];"
        "document.addEventListener('securitypolicyviolation', e => window.__nxwaRefused.push("
        "e.violatedDirective + ' ' + (e.sample || e.blockedURI)"
        " + ' at ' + e.sourceFile + ':' + e.lineNumber));"
    )
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return refused
