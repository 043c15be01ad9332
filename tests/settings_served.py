"""Settings of the gunicorn started by ``tests/crosscutting/test_faults_restart.py``: the suite's settings on
the parent's test database, connections kept for the life of the process as in production
(``CONN_MAX_AGE = None``, no health checks: Django's defaults), NXCloud a loopback server, the
per-address and per-owner limits out of the way (every request comes from 127.0.0.1), and the
worker's pid on every response (``X-Served-By``) so a test can follow each worker's connection."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, LIMITS_OUT_OF_THE_WAY, MIDDLEWARE, NXWA_ONBOARDING

DATABASES["default"]["NAME"] = os.environ["NXWA_SERVED_DB_NAME"]
DATABASES["default"]["CONN_MAX_AGE"] = None
MIDDLEWARE = ["tests.helpers.served.served_by", *MIDDLEWARE]
NXWA_ONBOARDING = {
    **NXWA_ONBOARDING,
    "BASE_URL": os.environ["NXWA_SERVED_BASE_URL"],
    "TIMEOUT": (2.0, 5.0),
    **LIMITS_OUT_OF_THE_WAY,
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "nxwa_onboarding": {"handlers": ["stderr"], "level": "WARNING"},
        "django.request": {"handlers": ["stderr"], "level": "ERROR"},
    },
}
