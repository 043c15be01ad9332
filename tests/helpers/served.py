"""A real server for fault tests: gunicorn on the test database (``tests/settings_served.py``),
signed-in HTTP sessions, and the machine's PostgreSQL stopped and started."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from django.http import HttpRequest, HttpResponseBase

from harness import processes

ROOT = Path(__file__).resolve().parent.parent.parent
#: The cluster the suite runs on (Debian's layout: /etc/postgresql/<version>/main).
CLUSTER = ("15", "main")


def served_by(get_response: Callable[[HttpRequest], HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Middleware: the worker's pid on every response, so a test can tell the workers apart."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        response = get_response(request)
        response["X-Served-By"] = str(os.getpid())
        return response

    return middleware


@contextmanager
def gunicorn(db_name: str, nxcloud_url: str, log: IO[bytes], workers: int = 2) -> Iterator[str]:
    """gunicorn (sync workers) serving ``tests.urls`` on the test database; yields its base URL."""
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings_served",
        "NXWA_SERVED_DB_NAME": db_name,
        "NXWA_SERVED_BASE_URL": nxcloud_url,
    }
    app = "django.core.wsgi:get_wsgi_application()"
    with processes.gunicorn(app, env, log, workers=workers, ready_path="/accounts/login/") as base:
        yield base


def postgres(action: str) -> None:
    """``pg_ctlcluster`` start, stop or restart of the machine's cluster (fast shutdown)."""
    version, name = CLUSTER
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action], check=True, capture_output=True
    )


def postgres_ready(timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False).returncode == 0:
            return True
        time.sleep(0.2)
    return False


@contextmanager
def postgres_comes_back() -> Iterator[None]:
    """Whatever happens inside, PostgreSQL is running again afterwards."""
    try:
        yield
    finally:
        if not postgres_ready(timeout=1):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", *CLUSTER, "start"],
                check=False,
                capture_output=True,
            )
        assert postgres_ready(), "PostgreSQL did not come back"
