"""The health report: is the database answering, is the task queue reachable and being worked,
and what was NXCloud's last answer to our credentials (read from the audit rows: a health probe
never calls NXCloud, which would cost money and could be refused for rate).

Each check returns a small dict with ``ok``; nothing in the report is secret (no key, no number).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, connection
from django.utils import timezone

from ..choices import Failure
from ..compat import task_backends
from ..conf import conf
from ..models import CodeRequest, VerificationAttempt

logger = logging.getLogger(__name__)

#: A ready task waiting longer than this means no worker takes the queue's work.
QUEUE_LAG_LIMIT = timedelta(minutes=5)


def report() -> dict[str, Any]:
    """``{"ok": bool, "checks": {"database": …, "tasks": …, "nxcloud": …}}``."""
    checks = {"database": database(), "tasks": {"ok": False}, "nxcloud": {"ok": False}}
    if checks["database"]["ok"]:
        checks["tasks"] = tasks()
        checks["nxcloud"] = nxcloud()
    return {"ok": all(check["ok"] for check in checks.values()), "checks": checks}


def database() -> dict[str, Any]:
    try:
        connection.ensure_connection()
        usable = connection.is_usable()  # a round trip on the connection itself
    except DatabaseError as err:
        logger.warning("health: the database does not answer (%s)", type(err).__name__)
        return {"ok": False, "error": type(err).__name__}
    if not usable:
        connection.close_if_unusable_or_obsolete()
        return {"ok": False, "error": "connection unusable"}
    return {"ok": True, "vendor": connection.vendor}


def tasks() -> dict[str, Any]:
    """The Tasks backend the app enqueues on: reachable, and (database backend) its oldest ready
    task not waiting for long. A backend that runs tasks at once has no queue to be behind."""
    try:
        backend = task_backends[conf.TASK_BACKEND]
    except Exception as err:
        return {"ok": False, "backend": conf.TASK_BACKEND, "error": type(err).__name__}
    found: dict[str, Any] = {
        "ok": True,
        "backend": type(backend).__name__,
        "runs_later": bool(backend.supports_defer),
    }
    try:
        module = type(backend).__module__
        if module.startswith("django_tasks_db"):
            found.update(database_queue(conf.TASK_BACKEND))
        elif module.startswith("django_tasks_rq"):
            found.update(rq_queue(backend))
    except Exception as err:
        logger.warning("health: the task queue does not answer (%s)", type(err).__name__)
        found.update(ok=False, error=type(err).__name__)
    return found


def database_queue(alias: str) -> dict[str, Any]:
    from django_tasks_db.models import DBTaskResult

    oldest = (
        DBTaskResult.objects.ready()
        .filter(backend_name=alias)
        .order_by("run_after", "enqueued_at")
        .values_list("run_after", "enqueued_at")
        .first()
    )
    if oldest is None:
        return {"oldest_ready_seconds": 0}
    run_after, enqueued_at = oldest
    now = timezone.now()
    # Not deferred: its run_after is the far future (the backend's "whenever").
    since = enqueued_at if run_after > now else max(run_after, enqueued_at)
    waited = (now - since).total_seconds()
    return {"oldest_ready_seconds": round(waited, 1), "ok": waited < QUEUE_LAG_LIMIT.total_seconds()}


def rq_queue(backend: Any) -> dict[str, Any]:
    import django_rq

    waiting = 0
    for name in sorted(backend.queues):
        queue = django_rq.get_queue(name)
        queue.connection.ping()
        waiting += queue.count
    return {"waiting": waiting}


def nxcloud() -> dict[str, Any]:
    """Credentials configured, and the kind of NXCloud's last answer to a recorded call (a
    ``configuration`` failure is a refused key, secret or integrator access)."""
    configured = bool(conf.ACCESS_KEY and conf.ACCESS_SECRET)
    latest: tuple[Any, ...] | None = None
    for model in (CodeRequest, VerificationAttempt):
        row = (
            model.objects.filter(finished_at__isnull=False, refusal_reason="")
            .order_by("-created_at", "-id")
            .values_list("finished_at", "failure", "result_code")
            .first()
        )
        if row is not None and (latest is None or row[0] > latest[0]):
            latest = row
    found: dict[str, Any] = {"ok": configured, "configured": configured}
    if latest is not None:
        finished_at, failure, result_code = latest
        found.update(
            last_answer_at=finished_at.isoformat(),
            last_failure=failure,
            last_result_code=result_code,
            ok=configured and failure != Failure.CONFIGURATION,
        )
    return found
