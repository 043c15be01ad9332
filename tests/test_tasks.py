"""Real workers: the database backend's ``db_worker`` and RQ's ``rqworker`` on the local Redis,
each a separate process on the test database, with a loopback server playing NXCloud.

- an enqueued client creation runs in the worker, creates one client, and the follower the
  worker then runs takes the number to registered (one phoneList per step);
- a worker SIGKILLed during createClient leaves the claim as evidence: nothing is ever sent again
  automatically, and the cron pass settles it from phoneList once the call must have ended;
- Redis SIGKILLed when a customer's code is accepted: the verification stands, the customer reads
  that setup continues, nothing is sent; once Redis is back, the cron pass enqueues the creation
  and a worker sends exactly one createClient.

``NXWA_WORKER_BACKENDS`` (comma separated: ``db``, ``rq``) picks the backends; both by default.
"""

from __future__ import annotations

import io
import logging
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
import redis
import time_machine
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.test import Client, override_settings
from django.utils import timezone

from harness.loopback import Behaviour, LoopbackNXCloud, Received, closed_port
from nxwa_onboarding import services, tasks
from nxwa_onboarding.models import FollowState, PhoneRegistration, VerificationAttempt
from tests.helpers.pages import shown, start, url
from tests.helpers.services import eventually
from tests.helpers.users import make_user

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
def worker(
    backend: str, base_url: str, read_timeout: float = 5.0, redis_url: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    path, command = BACKENDS[backend]
    env = {
        **os.environ,
        **({"NXWA_TEST_REDIS_URL": redis_url} if redis_url else {}),
        "DJANGO_SETTINGS_MODULE": "tests.settings_worker",
        "NXWA_WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "NXWA_WORKER_TASKS_BACKEND": path,
        "NXWA_WORKER_BASE_URL": base_url,
        "NXWA_WORKER_READ_TIMEOUT": str(read_timeout),
        "PYTHONPATH": str(ROOT),
    }
    # Its own process group: rqworker runs each job in a forked work-horse and its scheduler in a
    # process of its own, which must not outlive the worker (``killed`` reaches them too).
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
        killed(process)


def killed(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker's whole process group (the worker and any work-horse of its)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


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
            killed(process)  # the machine's crash: the worker and the call it was making
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


# -- Redis down ------------------------------------------------------------------------------------


@contextmanager
def private_redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A Redis of this test's own on ``port`` (never the machine's shared one), no persistence:
    killed, it comes back empty, as a crashed cache server would."""
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        probe = redis.Redis(port=port, socket_connect_timeout=0.2)
        assert eventually(lambda: _answers(probe), timeout=10), "redis-server did not start"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def _answers(probe: redis.Redis) -> bool:
    try:
        return bool(probe.ping())
    except redis.ConnectionError:
        return False


def phone_list_after_create_client(nx: LoopbackNXCloud) -> None:
    """NXCloud lists the number (registered) only once createClient came; every other call is OK."""

    def answer(received: Received) -> Behaviour | None:
        if not received.path.endswith("/phoneList"):
            return None
        return listed(5) if nx.calls("createClient") else Behaviour(body={"code": 0, "data": []})

    nx.on_request = answer


@pytest.mark.skipif("rq" not in CHOSEN, reason="NXWA_WORKER_BACKENDS leaves RQ out")
def test_redis_killed_when_a_code_is_accepted_the_customer_is_verified_and_setup_catches_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = closed_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    customer = make_user("customer")
    browser = Client()
    browser.force_login(customer)
    with (
        private_redis(port) as server,
        LoopbackNXCloud() as nx,
        on_backend_at("rq", nx.base_url, redis_url),
        caplog.at_level(logging.WARNING, logger="nxwa_onboarding.tasks"),
    ):
        phone_list_after_create_client(nx)
        registration = start(browser)  # getCode, answered by the loopback NXCloud
        server.send_signal(signal.SIGKILL)  # really gone: connections refused from now on
        server.wait()
        response = browser.post(url("check", registration), {"code": "123456"})
        assert response.status_code == 302, response.content[:500]
        said = shown(browser, response)
        assert "Your number is verified." in said
        assert "We are now setting up WhatsApp for your number." in said
        # The page's poll while Redis is still down: it nudges, fails to enqueue, answers.
        poll = browser.post(url("refresh", registration), {"shown": "verified"})
        assert poll.status_code == 302
        [attempt] = VerificationAttempt.objects.filter(registration=registration)
        assert attempt.outcome == VerificationAttempt.Outcome.ACCEPTED
        registration.refresh_from_db()
        assert registration.status == Status.VERIFIED
        assert registration.client_requested_at is None  # never claimed: nothing was sent
        assert nx.calls("createClient") == []
        assert any("could not enqueue set_up_client" in r.getMessage() for r in caplog.records)

        with private_redis(port):  # Redis is back, empty: the queued work was never there
            # The cron pass, minutes later: the stored times move back instead of the clock (the
            # worker's clock is the real one). The chain the poll started (its task lost) and
            # the verification are then older than any call could take: both are picked up.
            earlier = services.stale_after() * 2
            PhoneRegistration.objects.update(verified_at=F("verified_at") - earlier)
            FollowState.objects.update(next_step_at=F("next_step_at") - earlier)
            call_command("nxwa_follow", stdout=io.StringIO())
            assert nx.calls("createClient") == []  # enqueued, not sent inline
            with worker("rq", nx.base_url, redis_url=redis_url):
                assert eventually(
                    lambda: PhoneRegistration.objects.get(pk=registration.pk).status == Status.REGISTERED,
                    timeout=60,
                ), (PhoneRegistration.objects.get(pk=registration.pk).status, [c.path for c in nx.calls()])
        assert len(nx.calls("createClient")) == 1


@contextmanager
def on_backend_at(backend: str, base_url: str, redis_url: str) -> Iterator[None]:
    with override_settings(RQ_QUEUES={"default": {"URL": redis_url}}), on_backend(backend, base_url):
        yield
