"""The README is a front page and the documentation speaks of the product as it is.

``make docs`` builds the site with warnings as errors (a broken link, a setting without a docstring,
a page outside every toctree fail it); these hold what a build cannot see.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.guide import fixture_example, pytest_in

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: What the user-facing pages must not carry: the history of how the app was built.
HISTORY = re.compile(
    r"\bissues? \d+|\(#\d+\)|\bcommits? [0-9a-f]{7,40}\b|\bafter the reorgani[sz]ation", re.IGNORECASE
)


def user_facing_pages() -> list[Path]:
    pages = sorted(path for path in DOCS.rglob("*.md") if not {"_build", "_generated"} & set(path.parts))
    # Files outside docs/ that a page includes whole (the changelog) are pages of the site too.
    included = {
        (page.parent / name).resolve()
        for page in pages
        for name in re.findall(r"```\{include\}\s+(\S+)", page.read_text(encoding="utf-8"))
    }
    return [README, *pages, *sorted(path for path in included if DOCS not in path.parents)]


def test_the_readme_is_a_front_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert "make demo" in text
    assert "make test" in text
    (image,) = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text)
    assert (ROOT / image).is_file()


def test_every_relative_link_of_the_readme_resolves() -> None:
    links = re.findall(r"\]\((?!https?://|#)([^)#]+)", README.read_text(encoding="utf-8"))
    assert links
    assert [link for link in links if not (ROOT / link).exists()] == []


@pytest.mark.parametrize("page", user_facing_pages(), ids=lambda path: str(path.relative_to(ROOT)))
def test_the_pages_tell_no_history_of_past_work(page: Path) -> None:
    assert HISTORY.findall(page.read_text(encoding="utf-8")) == []


def test_the_guides_folders_join_the_site_without_edits() -> None:
    """Pages added to docs/howto/ and docs/explanation/ are picked up by a glob in the index."""
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for folder in ("howto", "explanation"):
        assert re.search(
            rf"```{{toctree}}\n(:[^\n]*\n)*:glob:\n(:[^\n]*\n)*\n(.*\n)*?{folder}/\*\n", index
        ), folder


@pytest.mark.slow
def test_the_testing_guides_fixture_example_passes_in_a_project_of_its_own(tmp_path: Path) -> None:
    """As printed in docs/howto/testing.md, with only a settings module and a pytest.ini beside it
    (``make test-wheel`` runs it again against the installed wheel)."""
    (tmp_path / "host_settings.py").write_text(
        'SECRET_KEY = "docs-example"\n'
        'INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "nxwa_onboarding"]\n'
        'DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}\n'
        "USE_TZ = True\n"
        'NXWA_ONBOARDING = {"ACCESS_KEY": "key", "ACCESS_SECRET": "secret", "APP_KEY": "app"}\n'
    )
    (tmp_path / "test_example.py").write_text(fixture_example())
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nDJANGO_SETTINGS_MODULE = host_settings\npythonpath = .\nfilterwarnings = error\n"
    )
    result = pytest_in(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
