"""``manage.py check --deploy`` on the example project's production settings reports nothing."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"
# Variables the production settings read; a developer's shell must not leak into the check.
READ = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "NXWA_", "SECURE_", "PORT", "DJANGO_")


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(READ)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "onboarding.example.com",
    "NXWA_ACCESS_KEY": "production-access-key",
    "NXWA_ACCESS_SECRET": "production-access-secret",
    "NXWA_APP_KEY": "production-app-key",
}


def test_check_deploy_reports_nothing() -> None:
    result = manage(
        "check", "--deploy", "--fail-level", "DEBUG", SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = manage("check", **PRODUCTION)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_the_development_defaults_are_what_check_deploy_flags() -> None:
    """The test can fail: the same check on the demo settings (DEBUG on) does report issues."""
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG is True
