"""Settings for the benchmarks: the test settings, a bench database, limits out of the way.

``DATABASE_URL`` picks the server (PostgreSQL for ``make bench``); the database itself is made
and dropped by ``benchmarks/run.py`` (``test_nxwa_bench``; SQLite: a file in a temporary
directory). ``NXWA_BENCH_BASE_URL`` points the client at the loopback NXCloud stand-in.
"""

from __future__ import annotations

import os
from typing import Any

from tests import settings as _base

globals().update({name: getattr(_base, name) for name in dir(_base) if name.isupper()})
DATABASES: dict[str, dict[str, Any]] = _base.DATABASES

_engine = DATABASES["default"]["ENGINE"]
if "NXWA_BENCH_DB_NAME" in os.environ:
    # gunicorn workers: the database run.py created, used as it is.
    DATABASES["default"]["NAME"] = os.environ["NXWA_BENCH_DB_NAME"]
elif _engine == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("NXWA_BENCH_SQLITE", "bench.sqlite3")}
else:
    # NXWA_TEST_DB_SUFFIX, as in the tests: runs from several checkouts on one server keep apart.
    _suffix = os.environ.get("NXWA_TEST_DB_SUFFIX", "")
    DATABASES["default"]["TEST"] = {"NAME": "test_nxwa_bench" + (f"_{_suffix}" if _suffix else "")}
# One connection per worker thread, kept for the life of the process as in production.
DATABASES["default"]["CONN_MAX_AGE"] = None

ROOT_URLCONF = "benchmarks.urls"
# The loopback stand-in plays NXCloud here; the sandbox app is not needed.
INSTALLED_APPS = [app for app in _base.INSTALLED_APPS if app != "nxwa_onboarding.sandbox"]
DEBUG = False

NXWA_ONBOARDING: dict[str, Any] = {
    **_base.NXWA_ONBOARDING,
    "BASE_URL": os.environ.get("NXWA_BENCH_BASE_URL", "http://127.0.0.1:9"),
    "TIMEOUT": (2.0, 5.0),
    # load.py sends every request from 127.0.0.1 as one customer; the limits are tested elsewhere
    # (throughput.py puts them back: NXWA_BENCH_LIMITS below).
    **_base.LIMITS_OUT_OF_THE_WAY,
}

# Each simulated customer's address, as a proxy passes it on (benchmarks/throughput.py sends
# one per registration); without the header, the connection's (127.0.0.1).
NXWA_ONBOARDING["CLIENT_IP"] = "benchmarks.addresses.forwarded_for"

if os.environ.get("NXWA_BENCH_LIMITS") == "defaults":
    # benchmarks/throughput.py: every rule limit at the app's default, as in production.
    NXWA_ONBOARDING = {key: value for key, value in NXWA_ONBOARDING.items() if not key.startswith("MAX_")}
if os.environ.get("NXWA_BENCH_TASKS") == "db":
    # A worker's setup: an accepted check enqueues (one INSERT) instead of creating the client
    # inside the request, as the immediate backend does. No worker runs: the queue only fills.
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
if os.environ.get("NXWA_BENCH_PREPARE") and _engine != "django.db.backends.sqlite3":
    # psycopg 3 prepares a statement once it has run this many times on a connection (Django's
    # default: never, for poolers that cannot hold prepared statements; docs/explanation/performance.md).
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = int(
        os.environ["NXWA_BENCH_PREPARE"]
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"nxwa_onboarding": {"level": "WARNING"}},
}
