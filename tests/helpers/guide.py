"""The documentation's executed snippets: the installation guide's ``<!-- install:NAME -->`` blocks
and the testing guide's ``<!-- fixture-example -->`` block, read from the pages as printed.

No Django here: ``.ci/wheel-check`` runs ``python -m tests.helpers.guide HOST_DIR`` to turn a fresh
``django-admin startproject`` into the guide's host project (before the wheel is tested in it).
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALL_GUIDE = ROOT / "docs" / "howto" / "install.md"
TESTING_GUIDE = ROOT / "docs" / "howto" / "testing.md"

_BLOCK = r"(?P=indent)```[a-z]*\n(?P<body>.*?)^(?P=indent)```$"
INSTALL_SNIPPET = re.compile(
    r"^(?P<indent>[ ]*)<!-- install:(?P<name>[a-z0-9-]+) -->\n" + _BLOCK, re.MULTILINE | re.DOTALL
)
FIXTURE_EXAMPLE = re.compile(
    r"^(?P<indent>[ ]*)<!-- fixture-example -->\n" + _BLOCK, re.MULTILINE | re.DOTALL
)


def install_snippets() -> dict[str, str]:
    """The installation guide's marked blocks, by name, dedented."""
    found: dict[str, str] = {}
    for match in INSTALL_SNIPPET.finditer(INSTALL_GUIDE.read_text(encoding="utf-8")):
        assert match["name"] not in found, f"two blocks of the guide marked install:{match['name']}"
        found[match["name"]] = textwrap.dedent(match["body"])
    return found


def fixture_example() -> str:
    """The testing guide's example of the ``nxcloud`` fixture, a test module as printed."""
    (match,) = FIXTURE_EXAMPLE.finditer(TESTING_GUIDE.read_text(encoding="utf-8"))
    return textwrap.dedent(match["body"])


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write("\n" + text)


def write_host(project: Path, package: str) -> None:
    """Apply every step of the guide to a fresh ``startproject`` at ``project`` (its settings
    package ``package``), the sandbox included, and add the fixture example with a pytest.ini."""
    snippets = install_snippets()
    settings = project / package / "settings.py"
    append(settings, snippets["settings"])
    (project / package / "urls.py").write_text(snippets["urls"], encoding="utf-8")
    append(settings, snippets["login-settings"])
    template = project / "templates" / "registration" / "login.html"
    template.parent.mkdir(parents=True, exist_ok=True)
    template.write_text(snippets["login-template"], encoding="utf-8")
    append(settings, snippets["i18n-settings"])
    append(settings, snippets["sandbox-settings"])
    append(project / package / "urls.py", snippets["sandbox-urls"])
    (project / "test_fixture_example.py").write_text(fixture_example(), encoding="utf-8")
    (project / "pytest.ini").write_text(
        f"[pytest]\nDJANGO_SETTINGS_MODULE = {package}.settings\nfilterwarnings = error\n", encoding="utf-8"
    )


if __name__ == "__main__":
    write_host(Path(sys.argv[1]), sys.argv[2])
