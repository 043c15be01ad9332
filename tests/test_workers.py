"""Real workers: the database backend's ``db_worker`` and RQ's ``rqworker`` on the local Redis,
each a separate process on the test database, with a loopback server playing NXCloud.

- an enqueued client creation runs in the worker, creates one client, and the follower the
  worker then runs takes the number to registered (one phoneList per step);
- a worker SIGKILLed during createClient leaves the claim as evidence: nothing is ever sent again
  automatically, and the cron pass settles it from phoneList once the call must have ended.

``NXWA_WORKER_BACKENDS`` (comma separated: ``db``, ``rq``) picks the backends; both by default.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import django_rq
import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from nxwa_onboarding import services, tasks
from nxwa_onboarding.models import PhoneRegistration
from tests.helpers.loopback import Behaviour, LoopbackNXCloud
from tests.helpers.services import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
PHONE = "8613800138000"
Status = PhoneRegistration.Status
BACKENDS = {
    "db": ("django_tasks_db.DatabaseBackend", ["db_worker", "--no-startup-delay", "--interval", "0.1"]),
    "rq": (
        "django_tasks_rq.RQBackend",
        ["rqworker", "default", "--with-scheduler", "--job-class", "django_tasks_rq.Job"],
    ),
}
CHOSEN = [name for name in os.environ.get("NXWA_WORKER_BACKENDS", "db,rq").split(",") if name]


def listed(register_status: int) -> Behaviour:
    """One answer for every call: createClient ignores ``data``, phoneList reads it."""
    item = {"display_phone_number": "+86 138 0013 8000", "register_status": register_status}
    return Behaviour(body={"code": 0, "message": "success", "data": [item]})


@contextmanager
def worker(backend: str, base_url: str, read_timeout: float = 5.0) -> Iterator[subprocess.Popen[bytes]]:
    path, command = BACKENDS[backend]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings_worker",
        "NXWA_WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "NXWA_WORKER_TASKS_BACKEND": path,
        "NXWA_WORKER_BASE_URL": base_url,
        "NXWA_WORKER_READ_TIMEOUT": str(read_timeout),
        "PYTHONPATH": str(ROOT),
    }
    # A session of its own: rqworker's scheduler (and RQ's work horse) are processes of their own
    # that outlive a SIGKILLed worker; they are stopped with its group.
    process = subprocess.Popen(
        [sys.executable, "-m", "django", *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with suppress(ProcessLookupError):  # whatever of its group is left (none, normally)
            os.killpg(process.pid, signal.SIGKILL)


def nxwa(base_url: str) -> dict[str, Any]:
    return {
        "ACCESS_KEY": "test-access-key",
        "ACCESS_SECRET": "test-access-secret-CANARY-7f3a",
        "APP_KEY": "test-app-key",
        "BASE_URL": base_url,
        "FOLLOW_BACKOFF": (0.2, 0.5),
    }


@contextmanager
def on_backend(backend: str, base_url: str) -> Iterator[None]:
    tasks_setting = {"default": {"BACKEND": BACKENDS[backend][0]}}
    with override_settings(TASKS=tasks_setting, NXWA_ONBOARDING=nxwa(base_url)):
        if backend == "rq":
            django_rq.get_queue("default").empty()  # type: ignore[no-untyped-call]
        yield


def verified() -> PhoneRegistration:
    return PhoneRegistration.objects.create(
        phone_number=PHONE, status=Status.VERIFIED, verified_at=timezone.now()
    )


@pytest.mark.parametrize("backend", CHOSEN)
def test_a_worker_creates_the_client_once_and_follows_it_to_registered(backend: str) -> None:
    with LoopbackNXCloud(default=listed(5)) as nx, on_backend(backend, nx.base_url):
        registration = verified()
        tasks.client_after_commit(registration)  # no transaction open: enqueued at once
        with worker(backend, nx.base_url):
            assert eventually(
                lambda: PhoneRegistration.objects.get().status == Status.REGISTERED, timeout=60
            ), (PhoneRegistration.objects.get().status, [c.path for c in nx.calls()])
        assert len(nx.calls("createClient")) == 1
        assert 1 <= len(nx.calls("phoneList")) <= 2


@pytest.mark.parametrize("backend", CHOSEN)
def test_a_worker_killed_during_create_client_never_sends_it_again(backend: str) -> None:
    with LoopbackNXCloud(default=Behaviour(kind="hang")) as nx, on_backend(backend, nx.base_url):
        registration = verified()
        tasks.client_after_commit(registration)
        with worker(backend, nx.base_url, read_timeout=120) as process:
            assert eventually(lambda: len(nx.calls("createClient")) == 1, timeout=60)
            os.killpg(process.pid, signal.SIGKILL)  # the machine died: the worker and its scheduler
            process.wait()
        registration.refresh_from_db()
        assert registration.status == Status.VERIFIED
        assert registration.client_requested_at is not None  # the claim: evidence of the call
    # The cron pass, long after: phoneList lists the number (it had taken): settled, not resent.
    later = timezone.now() + services.stale_after() * 2
    with LoopbackNXCloud(default=listed(4)) as nx, override_settings(NXWA_ONBOARDING=nxwa(nx.base_url)):
        with time_machine.travel(later):
            tasks.follow_pass()
        assert nx.calls("createClient") == []
    registration.refresh_from_db()
    assert registration.status == Status.CLIENT_CREATED
