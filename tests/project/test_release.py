"""The release artefacts: what the wheel carries, and the release workflow's shape.

The wheel is the one ``.ci/wheel-check`` built (``NXWA_TEST_WHEEL``), or one built here from the
checkout with ``pip wheel`` (isolated, as a user's install would build it). The workflow cannot run
here, so its file is parsed and held to trusted publishing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "nxwa_onboarding"
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    built = os.environ.get("NXWA_TEST_WHEEL")
    if not built:
        out = tmp_path_factory.mktemp("wheel")
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ]
        # pip and its build backend run without the suite's PYTHONWARNINGS (the matrix makes
        # deprecations errors, and pip's vendored pkg_resources warns on import); the build
        # environment comes from the package index: one more try after a failure there, and
        # pip's own words in the failure if the second fails too.
        env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
        for _try in range(2):
            built_run = subprocess.run(
                command, capture_output=True, text=True, timeout=300, check=False, env=env, cwd=ROOT
            )
            if built_run.returncode == 0:
                break
        assert built_run.returncode == 0, f"pip wheel failed twice:\n{built_run.stderr[-3000:]}"
        (found,) = out.glob("django_nxwa_onboarding-*.whl")
        built = str(found)
    return zipfile.ZipFile(built)


def shipped(*patterns: str) -> set[str]:
    """The checkout's files matching ``patterns`` under the package, as paths in the wheel."""
    return {
        path.relative_to(ROOT).as_posix()
        for pattern in patterns
        for path in PACKAGE.glob(pattern)
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.slow
def test_the_wheel_carries_everything_a_host_project_needs(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    needed = shipped(
        "**/templates/**/*",
        "static/**/*",
        "locale/*/LC_MESSAGES/django.mo",
        "locale/*/LC_MESSAGES/django.po",
        "**/migrations/*.py",
        "**/*.py",
        "api/openapi.json",
        "py.typed",
    )
    assert {name for name in needed if name.endswith(".mo")}, "no compiled catalogue in the checkout"
    assert sorted(needed - names) == []
    # The catalogues and the API document as committed, byte for byte.
    for name in needed:
        if name.endswith((".mo", "openapi.json")):
            assert wheel.read(name) == (ROOT / name).read_bytes(), name


@pytest.mark.slow
def test_the_wheel_holds_the_package_and_its_metadata_only(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/", 1)[0] for name in wheel.namelist()}
    (info,) = (top for top in tops if top.endswith(".dist-info"))
    assert tops == {"nxwa_onboarding", info}
    names = set(wheel.namelist())
    assert f"{info}/licenses/LICENSE" in names
    entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "[pytest11]\nnxwa_onboarding = nxwa_onboarding.testing" in entry_points
    metadata = wheel.read(f"{info}/METADATA").decode()
    assert "Requires-Python: >=3.11" in metadata
    assert "Description-Content-Type: text/markdown" in metadata
    assert "Provides-Extra: testing" in metadata


# -- the release workflow --------------------------------------------------------------------------


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found = job["steps"]
    assert isinstance(found, list)
    return found


def test_the_release_runs_on_a_version_tag_only() -> None:
    data = workflow()
    trigger = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as True
    assert trigger == {"push": {"tags": ["v*"]}}


def test_the_release_publishes_with_trusted_publishing_and_no_token() -> None:
    data = workflow()
    assert data["permissions"] == {"contents": "read"}
    build, publish = data["jobs"]["build"], data["jobs"]["publish"]
    assert "permissions" not in build  # only the publishing job may ask for an OIDC token
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["needs"] == "build"
    assert publish["environment"]["name"] == "pypi"
    (upload,) = (step for step in steps(publish) if step.get("uses", "").startswith("pypa/"))
    assert upload["uses"] == "pypa/gh-action-pypi-publish@release/v1"
    assert "with" not in upload or not {"password", "user"} & set(upload["with"])
    assert "secrets." not in WORKFLOW.read_text(encoding="utf-8")


def test_the_release_builds_checks_and_hands_over_what_it_built() -> None:
    build = workflow()["jobs"]["build"]
    runs = "\n".join(step.get("run", "") for step in steps(build))
    assert "python -m build" in runs
    assert "twine check --strict dist/*" in runs
    uses = [step["uses"] for step in steps(build) if "uses" in step]
    assert uses[0].startswith("actions/checkout@v")
    assert any(action.startswith("actions/upload-artifact@v") for action in uses)
    downloads = [step for step in steps(workflow()["jobs"]["publish"]) if "uses" in step]
    assert downloads[0]["uses"].startswith("actions/download-artifact@v")
    assert downloads[0]["with"]["name"] == "dist"
