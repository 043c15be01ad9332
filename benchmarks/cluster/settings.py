"""Settings of every process ``benchmarks/cluster/run.py`` starts, by ``NXWA_CLUSTER_ROLE``:

- ``site`` (the default): a web server instance, a worker, or the benchmark itself: the
  benchmark settings with the Tasks backend of ``NXWA_CLUSTER_BACKEND`` (``db``: django-tasks-db,
  ``rq``: django-tasks-rq on ``NXWA_CLUSTER_REDIS_URL``, Redis database 11 by default) and
  NXCloud at ``NXWA_BENCH_BASE_URL`` (the sandbox process, under a prefix naming the caller);
- ``nxcloud``: the app's offline sandbox served on its own, as NXCloud would be, with a
  middleware that records every call it answers (``benchmarks.cluster.nxcloud``).

Both use the database ``NXWA_BENCH_DB_NAME`` on ``DATABASE_URL``'s server, made and dropped by
``cluster.py``; the sandbox's tables sit beside the app's there (migrated with ``nxcloud``'s
settings, which install everything).
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks import settings as _bench

globals().update({name: getattr(_bench, name) for name in dir(_bench) if name.isupper()})
from tests import settings as _tests  # noqa: E402

ROLE = os.environ.get("NXWA_CLUSTER_ROLE", "site")
BACKENDS = {"db": "django_tasks_db.DatabaseBackend", "rq": "django_tasks_rq.RQBackend"}
DATABASES: dict[str, dict[str, Any]] = _bench.DATABASES
NXWA_ONBOARDING: dict[str, Any] = {
    **_bench.NXWA_ONBOARDING,
    # NXCloud's timings in the sandbox: register_status 3, then 4 after 2 s, 5 after 5 s.
    "SANDBOX_REGISTER_STEPS": (2.0, 5.0),
    "SANDBOX_ALLOW_WITHOUT_DEBUG": True,
    # Following steps half a second apart after a change, at most 2 s apart while none comes:
    # the sandbox's numbers change within seconds (the default, 5 s to 300 s, suits NXCloud's
    # minutes).
    "FOLLOW_BACKOFF": (0.5, 2.0),
}

if ROLE == "nxcloud":
    INSTALLED_APPS = list(_tests.INSTALLED_APPS)  # the sandbox and everything else, for migrate
    ROOT_URLCONF = "benchmarks.cluster.nxcloud"
    MIDDLEWARE = ["benchmarks.cluster.nxcloud.RecordCalls", *_tests.MIDDLEWARE]
else:
    INSTALLED_APPS = [*_bench.INSTALLED_APPS, "django_rq"]  # django_rq: its rqworker command
    TASKS = {"default": {"BACKEND": BACKENDS[os.environ.get("NXWA_CLUSTER_BACKEND", "db")]}}
    RQ_QUEUES = {"default": {"URL": os.environ.get("NXWA_CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/11")}}
