"""The package's minimum versions exclude every release of its runtime dependencies that a
published security fix came after: installing it can never pull in a known-vulnerable one."""

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
]


def requirements() -> dict[str, Requirement]:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    parsed = [Requirement(line) for line in dependencies]
    return {canonicalize_name(requirement.name): requirement for requirement in parsed}


@pytest.mark.parametrize(
    ("package", "vulnerable", "advisory"), KNOWN_FIXES, ids=[f"{p}-{v}" for p, v, _a in KNOWN_FIXES]
)
def test_no_known_vulnerable_release_is_allowed(package: str, vulnerable: str, advisory: str) -> None:
    requirement = requirements().get(package)
    assert requirement is not None, f"{package} is not a declared runtime dependency"
    assert not requirement.specifier.contains(vulnerable, prereleases=True), (
        f"{requirement} still allows {package} {vulnerable} ({advisory})"
    )


def test_every_runtime_dependency_has_a_floor() -> None:
    for name, requirement in requirements().items():
        assert any(spec.operator in (">=", "==", "~=") for spec in requirement.specifier), name
