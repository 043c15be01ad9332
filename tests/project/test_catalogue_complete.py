"""Every translatable string of the package is in the catalogues, translated: ``makemessages``
run on a copy of the package finds nothing new, nothing fuzzy (a string added to the code without
its Chinese fails here, naming it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "nxwa_onboarding"

pytestmark = pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext")


def entries(po: str) -> list[str]:
    return [block for block in po.split("\n\n") if "msgid" in block and not block.startswith("#~")]


def test_makemessages_finds_no_string_missing_from_the_catalogue(tmp_path: Path) -> None:
    copy = tmp_path / "nxwa_onboarding"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "makemessages",
            "-l",
            "zh_Hans",
            "--no-location",
            "--verbosity",
            "0",
        ],
        cwd=copy,
        check=True,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": ""},
    )
    po = (copy / "locale/zh_Hans/LC_MESSAGES/django.po").read_text()
    missing = [
        block
        for block in entries(po)[1:]  # the header
        if "#, fuzzy" in block or re.search(r'msgstr(\[0\])? ""\Z', block.strip())
    ]
    assert missing == []
