"""The documentation's executed snippets: the installation guide's ``<!-- install:NAME -->`` blocks
and the testing guide's ``<!-- fixture-example -->`` block, read from the pages as printed.

No Django here: ``.ci/wheel-check`` runs ``python -m tests.helpers.guide HOST_DIR`` to turn a fresh
``django-admin startproject`` into the guide's host project (before the wheel is tested in it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALL_GUIDE = ROOT / "docs" / "howto" / "install.md"
TESTING_GUIDE = ROOT / "docs" / "howto" / "testing.md"

_BLOCK = r"(?P=indent)```[a-z]*\n(?P<body>.*?)^(?P=indent)```$"
FIXTURE_EXAMPLE = re.compile(
    r"^(?P<indent>[ ]*)<!-- fixture-example -->\n" + _BLOCK, re.MULTILINE | re.DOTALL
)


def marked_blocks(path: Path, prefix: str) -> dict[str, str]:
    """``{NAME: the block's text, dedented}`` for each code block after a ``<!-- PREFIX:NAME -->``."""
    pattern = re.compile(
        rf"^(?P<indent>[ ]*)<!-- {re.escape(prefix)}:(?P<name>[a-z0-9-]+) -->\n" + _BLOCK,
        re.MULTILINE | re.DOTALL,
    )
    found: dict[str, str] = {}
    for match in pattern.finditer(path.read_text(encoding="utf-8")):
        assert match["name"] not in found, f"two blocks marked {prefix}:{match['name']} in {path.name}"
        found[match["name"]] = textwrap.dedent(match["body"])
    return found


def install_snippets() -> dict[str, str]:
    """The installation guide's marked blocks, by name, dedented."""
    return marked_blocks(INSTALL_GUIDE, "install")


def fixture_example() -> str:
    """The testing guide's example of the ``nxcloud`` fixture, a test module as printed."""
    (match,) = FIXTURE_EXAMPLE.finditer(TESTING_GUIDE.read_text(encoding="utf-8"))
    return textwrap.dedent(match["body"])


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write("\n" + text)


class HostFiles:
    """A host project's folder, as the guides' tests build it: append to or write its files."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, relative: str, text: str) -> None:
        append(self.path / relative, text)

    def write(self, relative: str, text: str) -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def pytest_in(folder: Path) -> subprocess.CompletedProcess[str]:
    """pytest run in a host project's folder, as its developer would, without this suite's
    settings or plugins' state leaking in."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST_"))},
    )


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
