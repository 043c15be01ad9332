"""The package's minimum versions exclude every release of its dependencies (runtime and every
optional extra) that a published security fix came after: installing it, or any of its extras,
can never pull in a known-vulnerable one."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

#: (package, the last vulnerable release, the advisory fixed by the release after it). Add a
#: row when a security release comes out, then raise the floor in pyproject.toml.
KNOWN_FIXES = [
    ("django", "5.2.8", "CVE-2025-64460, CVE-2025-13372 (fixed in 5.2.9)"),
    ("django", "5.2.10", "CVE-2026-1207, CVE-2026-1287, CVE-2026-1312, CVE-2026-1285 (fixed in 5.2.11)"),
    ("requests", "2.32.3", "CVE-2024-47081, .netrc credentials leak (fixed in 2.32.4)"),
    ("requests", "2.32.5", "CVE-2026-25645, extract_zipped_paths (fixed in 2.33.0)"),
    ("urllib3", "2.4.0", "CVE-2025-50181, CVE-2025-50182, redirects not disabled (fixed in 2.5.0)"),
    ("urllib3", "2.5.0", "CVE-2025-66418, CVE-2025-66471, decompression bombs (fixed in 2.6.0)"),
    ("gunicorn", "21.2.0", "CVE-2024-1135, request smuggling (fixed in 22.0.0)"),
    ("gunicorn", "22.0.0", "CVE-2024-6827, request smuggling through Transfer-Encoding (fixed in 23.0.0)"),
]


def requirements() -> dict[str, list[Requirement]]:
    """Every declared requirement by package: the runtime ones and each optional extra's."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    found: dict[str, list[Requirement]] = {}
    for line in lines:
        requirement = Requirement(line)
        found.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    return found


@pytest.mark.parametrize(
    ("package", "vulnerable", "advisory"), KNOWN_FIXES, ids=[f"{p}-{v}" for p, v, _a in KNOWN_FIXES]
)
def test_no_known_vulnerable_release_is_allowed(package: str, vulnerable: str, advisory: str) -> None:
    declared = requirements().get(package)
    assert declared, f"{package} is not a declared dependency"
    for requirement in declared:
        assert not requirement.specifier.contains(vulnerable, prereleases=True), (
            f"{requirement} still allows {package} {vulnerable} ({advisory})"
        )


#: Stub and tool packages whose every release is harmless to install.
NO_FLOOR_NEEDED = {"types-requests"}


def test_every_dependency_has_a_floor() -> None:
    for name, declared in requirements().items():
        if name in NO_FLOOR_NEEDED:
            continue
        for requirement in declared:
            assert any(spec.operator in (">=", "==", "~=") for spec in requirement.specifier), requirement
