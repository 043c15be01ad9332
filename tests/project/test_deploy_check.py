"""``manage.py check --deploy`` on the example project's production settings reports nothing."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
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
    result = manage("check", "--deploy", "--fail-level", "WARNING", DEBUG="1")
    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG is True


SHOW_DEBUG = ("shell", "-c", "from django.conf import settings; print('DEBUG', settings.DEBUG)")


def test_an_empty_environment_refuses_to_start_and_says_what_to_set() -> None:
    """No DEBUG, no SECRET_KEY: production defaults, so no made-up key either."""
    result = manage("check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set the SECRET_KEY environment variable" in result.stderr
    assert "DEBUG=1" in result.stderr  # and how to run the local demo instead


def test_debug_is_off_unless_asked_for() -> None:
    result = manage(*SHOW_DEBUG, SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout


def test_only_debug_may_run_on_the_development_key() -> None:
    shown = "print(settings.DEBUG, settings.SECRET_KEY.startswith('demo-only'))"
    result = manage("shell", "-c", f"from django.conf import settings; {shown}", DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True True"


def test_make_demo_runs_every_command_with_debug_on() -> None:
    """The sandbox needs DEBUG (E010): ``make demo`` turns it on for each manage.py command."""
    plan = subprocess.run(
        ["make", "--no-print-directory", "-n", "demo"],  # -n: print the commands, run none
        cwd=EXAMPLE.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    commands = [part for line in plan for part in line.split("../") if "manage.py" in part]
    names = [part.split("manage.py")[1].split()[0] for part in commands]
    # The worker runs beside the web server, in the same shell line that stops it on exit.
    assert names == ["migrate", "demo_setup", "db_worker", "runserver"]
    assert "trap 'kill $worker" in plan[-1]
    for line in plan:
        if "manage.py" in line:
            assert line.count("DEBUG=1 ") == line.count("manage.py"), line
