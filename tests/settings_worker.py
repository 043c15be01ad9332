"""Settings of a worker process started by ``tests/test_tasks.py``: the suite's settings, on
the parent's test database, with its Tasks backend and its NXCloud (a loopback server)."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS, NXWA_ONBOARDING

DATABASES["default"]["NAME"] = os.environ["NXWA_WORKER_DB_NAME"]
INSTALLED_APPS = [*INSTALLED_APPS, "django_rq"]  # its rqworker command
TASKS = {"default": {"BACKEND": os.environ["NXWA_WORKER_TASKS_BACKEND"]}}
NXWA_ONBOARDING = {
    **NXWA_ONBOARDING,
    "BASE_URL": os.environ["NXWA_WORKER_BASE_URL"],
    "TIMEOUT": (2.0, float(os.environ.get("NXWA_WORKER_READ_TIMEOUT", "5"))),
    "FOLLOW_BACKOFF": (0.2, 0.5),
}
