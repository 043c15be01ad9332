"""What ``benchmarks/cluster/run.py`` counts after a backend's run, and what it holds the run to.

Read from the run's database: the site's rows (registrations, code requests, attempts, follow
states), the sandbox's (numbers at register_status 5 by its own timing rule), the record of every
NXCloud call ``benchmarks.cluster.nxcloud`` kept, and the Tasks backend's outcomes.
"""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]


def rows(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return list(cursor.fetchall())


def task_outcomes(backend: str) -> Row:
    if backend == "db":
        found = rows("SELECT status, COUNT(*) FROM django_tasks_database_dbtaskresult GROUP BY status")
        return {"by_status": {str(status): int(n) for status, n in found}}
    import django_rq

    queue = django_rq.get_queue("default")
    return {
        "failed": queue.failed_job_registry.count,
        "finished": queue.finished_job_registry.count,
        "queued": queue.count,
    }


def failed_tasks(backend: str, outcomes: Row) -> int:
    if backend == "db":
        return int(outcomes["by_status"].get("FAILED", 0))
    return int(outcomes["failed"])


def counts(backend: str) -> Row:
    """What the database holds afterwards: the site's rows and NXCloud's record of its calls."""
    from django.db.models import Count

    from benchmarks.cluster.nxcloud import CALLS_TABLE
    from nxwa_onboarding.models import CodeRequest, FollowState, PhoneRegistration, VerificationAttempt

    calls: dict[str, dict[str, int]] = {}
    for action, caller, n in rows(f"SELECT action, caller, COUNT(*) FROM {CALLS_TABLE} GROUP BY 1, 2"):  # noqa: S608
        calls.setdefault(str(action), {})[str(caller)] = int(n)
    per_number = [
        int(n)
        for (n,) in rows(
            f"SELECT COUNT(*) FROM {CALLS_TABLE} WHERE action = 'createClient' GROUP BY phone"  # noqa: S608
        )
    ]
    refused = rows(f"SELECT action, COUNT(*) FROM {CALLS_TABLE} WHERE answer IS DISTINCT FROM 0 GROUP BY 1")  # noqa: S608
    attempts_per_registration = list(
        PhoneRegistration.objects.annotate(n=Count("attempts")).values_list("n", flat=True)
    )
    return {
        "nxcloud_calls": calls,
        "nxcloud_refused": {str(action): int(n) for action, n in refused},
        "create_client_calls": sum(per_number),
        "create_client_numbers": len(per_number),
        "create_client_most_per_number": max(per_number, default=0),
        "phone_list_calls": sum(calls.get("phoneList", {}).values()),
        # By NXCloud's clock: from the first code it checked to the last createClient it answered.
        "all_clients_created_s": span("checkCode", "createClient"),
        "follow_states": FollowState.objects.count(),
        "registrations": PhoneRegistration.objects.count(),
        "registration_numbers": PhoneRegistration.objects.values("phone_number").distinct().count(),
        "registrations_by_status": {
            str(row["status"]): int(row["n"])
            for row in PhoneRegistration.objects.values("status").annotate(n=Count("pk")).order_by()
        },
        "sandbox_registered_numbers": sandbox_registered(),
        "code_requests": CodeRequest.objects.count(),
        "attempts": VerificationAttempt.objects.count(),
        "accepted_attempts": VerificationAttempt.objects.filter(outcome="accepted").count(),
        "registrations_without_exactly_one_attempt": sum(1 for n in attempts_per_registration if n != 1),
        "tasks": task_outcomes(backend),
    }


def span(first: str, last: str) -> float | None:
    """Seconds from NXCloud's first ``first`` call to its last ``last`` call."""
    from benchmarks.cluster.nxcloud import CALLS_TABLE

    found = rows(
        f"SELECT EXTRACT(EPOCH FROM MAX(at) FILTER (WHERE action = %s) - MIN(at) FILTER (WHERE action = %s))"  # noqa: S608
        f" FROM {CALLS_TABLE}",
        [last, first],
    )
    return None if found[0][0] is None else round(float(found[0][0]), 2)


def sandbox_registered() -> int:
    """Numbers at register_status 5 in the sandbox, by its own rule (``SANDBOX_REGISTER_STEPS``)."""
    from nxwa_onboarding.conf import conf

    _to_created, to_registered = conf.SANDBOX_REGISTER_STEPS
    found = rows(
        "SELECT COUNT(*) FROM nxwa_sandbox_sandboxnumber WHERE client_created_at IS NOT NULL"
        " AND forced_register_status IS NULL AND client_created_at <= now() - make_interval(secs => %s)",
        [to_registered],
    )
    return int(found[0][0])


def traceback_counts(found: dict[str, list[str]] | None) -> dict[str, int]:
    return {name: len(blocks) for name, blocks in (found or {}).items()}


#: A frame of the app's own code, in a traceback (the package's directory in its path).
APP_FRAME = "/nxwa_onboarding/"


def apps_tracebacks_stopping(r: Row) -> dict[str, int]:
    """Tracebacks a process wrote while stopping that pass through the app's code. The others
    are the worker's own (django-tasks-db's SIGTERM handler exits from inside whatever it is
    doing): reported with the run, not held against the app."""
    found = r.get("tracebacks_stopping") or {}
    counted = {name: sum(APP_FRAME in block for block in blocks) for name, blocks in found.items()}
    return {name: n for name, n in counted.items() if n}


def failures(r: Row) -> list[str]:
    """What went wrong in one backend's run (empty: every promise held)."""
    n = r["merchants"]
    calls = r.get("nxcloud_calls", {})
    unanswered = sum(c.get("599", 0) for c in r.get("requests", {}).values())
    checks = [
        (r.get("all_registered_s") is not None, "not every registration reached registered in time"),
        (r.get("create_client_calls") == n, f"createClient calls: {r.get('create_client_calls')}, not {n}"),
        (r.get("create_client_numbers") == n, f"numbers called: {r.get('create_client_numbers')}, not {n}"),
        (r.get("create_client_most_per_number") == 1, "a number had more than one createClient"),
        (
            r.get("registrations_by_status") == {"registered": n},
            f"statuses: {r.get('registrations_by_status')}",
        ),
        (r.get("sandbox_registered_numbers") == n, "not every number is registered in the sandbox"),
        (r.get("registrations") == n, f"registrations: {r.get('registrations')}, not {n}"),
        (r.get("registration_numbers") == n, f"numbers registered: {r.get('registration_numbers')}, not {n}"),
        (r.get("follow_states") == 1, f"follow states: {r.get('follow_states')}, not 1 (one application)"),
        (r.get("code_requests") == n, f"code requests: {r.get('code_requests')}, not {n}"),
        (r.get("attempts") == n, f"attempt rows: {r.get('attempts')}, not {n}"),
        (r.get("accepted_attempts") == n, f"accepted attempts: {r.get('accepted_attempts')}, not {n}"),
        (
            r.get("registrations_without_exactly_one_attempt") == 0,
            "a registration without exactly one attempt",
        ),
        (r.get("server_errors") == 0, f"5xx responses: {r.get('server_errors')}"),
        (unanswered == 0, f"requests without an answer: {unanswered}"),
        (not r.get("merchant_errors"), f"merchants' threads broke: {r.get('merchant_errors')}"),
        (r.get("phone_list_calls", 0) > 0, "no phoneList call: nothing followed the numbers"),
        (not r.get("nxcloud_refused"), f"NXCloud refused calls: {r.get('nxcloud_refused')}"),
        ("tasks" in r and failed_tasks(r["backend"], r["tasks"]) == 0, f"failed tasks: {r.get('tasks')}"),
        (not r.get("exited_early"), f"processes that exited during the run: {r.get('exited_early')}"),
        (not r.get("tracebacks"), f"tracebacks while running: {traceback_counts(r.get('tracebacks'))}"),
        (
            not apps_tracebacks_stopping(r),
            f"tracebacks from the app's code while stopping: {apps_tracebacks_stopping(r)}",
        ),
        (bool(r.get("chain_stopped")), "the follower's chain did not stop once nothing was in progress"),
    ]
    for action in ("createClient", "phoneList", "getPhone"):
        by_web = {caller: k for caller, k in calls.get(action, {}).items() if caller.startswith("web")}
        checks.append((not by_web, f"{action} from the web instances: {by_web}"))
    return [message for ok, message in checks if not ok]
