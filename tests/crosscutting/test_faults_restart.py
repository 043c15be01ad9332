"""PostgreSQL stopped and started under load: gunicorn (2 sync workers, persistent connections as
in production) serves the customer pages and the JSON API to signed-in sessions in threads,
with a loopback server playing NXCloud, while the machine's PostgreSQL goes away for a few
seconds and comes back.

- every answer is a normal one or the calm 503 (``unavailable.html`` or the ``unavailable``
  problem, ``Retry-After``, no traceback, no error text, no SQL); not one 500;
- no half-written rows: every attempt and code request is finished or pending (the evidence of a
  call that may have been made), every call NXCloud received has its row, and every verified
  number its accepted attempt;
- service resumes by itself: once PostgreSQL answers, every request succeeds, with no restart of
  the server; after a restart with nothing in flight, a worker's persistent connection (broken)
  fails at most its first request, with the 503, and the next one succeeds.

getCode and checkCode take 0.3 s at the loopback NXCloud, so the stop cuts requests mid-call:
their pending rows stay, as the write-ahead design means them to. It stops the machine's shared
PostgreSQL, so it is marked ``pg_restart`` and runs only when asked for by it (``make
test-restart``), never in ``make test``/``make test-postgres``.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.db.models import Q

from harness.login import signed_in
from harness.loopback import Behaviour, LoopbackNXCloud
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from tests.helpers.served import gunicorn, postgres, postgres_comes_back, postgres_ready
from tests.helpers.users import PASSWORD, make_user

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.pg_restart,
    pytest.mark.slow,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"], reason="restarts PostgreSQL"
    ),
]

THREADS = 4
OUTAGE = 3.0  # seconds PostgreSQL stays down under load
CALM = "The service is briefly unavailable. Please try again in a minute."
PROBLEM_TYPE = "urn:nxwa-onboarding:problem:unavailable"
LEAKS = ("Traceback", "OperationalError", "InterfaceError", "psycopg", "SELECT", "INSERT", "5432")
SLOW = Behaviour(delay=0.3)
REGISTRATION = re.compile(r"^/onboarding/r/[0-9a-f-]+/$")
Status = PhoneRegistration.Status
Outcome = VerificationAttempt.Outcome


@dataclass
class Seen:
    started: float
    path: str
    status: int
    worker: str = ""
    retry_after: str = ""
    content_type: str = ""
    body: str = ""


class Load:
    """Each thread walks the customer's way round and round (list, start with a new number,
    the page, the code, the poll, the API's list) and records every answer."""

    def __init__(self, base: str, sessions: list[requests.Session]) -> None:
        self.base = base
        self.sessions = sessions
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.go = threading.Event()
        self.stopping = threading.Event()
        self.in_flight = 0
        self.threads = [
            threading.Thread(target=self.walk, args=(i,), daemon=True) for i in range(len(sessions))
        ]

    def request(self, session: requests.Session, method: str, path: str, **kwargs: Any) -> Seen:
        started = time.monotonic()
        try:
            response = session.request(method, self.base + path, allow_redirects=False, timeout=30, **kwargs)
        except requests.RequestException as err:
            seen = Seen(started, path, 599, body=repr(err))
        else:
            seen = Seen(
                started,
                path,
                response.status_code,
                response.headers.get("X-Served-By", ""),
                response.headers.get("Retry-After", ""),
                response.headers.get("Content-Type", ""),
                response.text if response.status_code >= 500 else response.headers.get("Location", ""),
            )
        with self.lock:
            self.seen.append(seen)
        return seen

    def walk(self, index: int) -> None:
        session = self.sessions[index]
        token = session.cookies["csrftoken"]
        own = ""
        for step in range(10**6):
            self.go.wait()
            if self.stopping.is_set():
                return
            with self.lock:
                self.in_flight += 1
            try:
                kind = step % 6
                if kind == 0:
                    self.request(session, "GET", "/onboarding/")
                elif kind == 1:
                    number = f"+86 136 {index:02d}{step:06d}"
                    data = {"phone_number": number, "method": "sms", "csrfmiddlewaretoken": token}
                    seen = self.request(session, "POST", "/onboarding/start/", data=data)
                    if seen.status == 302 and REGISTRATION.match(seen.body):
                        own = seen.body
                elif kind == 2:
                    self.request(session, "GET", own or "/onboarding/")
                elif kind == 3 and own:
                    data = {"code": "123456", "csrfmiddlewaretoken": token}
                    self.request(session, "POST", own + "check/", data=data)
                elif kind == 4 and own:
                    headers = {"X-Requested-With": "fetch"}
                    data = {"shown": "verified", "csrfmiddlewaretoken": token}
                    self.request(session, "POST", own + "refresh/", data=data, headers=headers)
                elif kind == 5:
                    self.request(session, "GET", "/onboarding/api/registrations/")
            finally:
                with self.lock:
                    self.in_flight -= 1

    def start(self) -> None:
        self.go.set()
        for thread in self.threads:
            thread.start()

    def pause(self) -> None:
        """No request in flight once this returns (each thread waits before its next one)."""
        self.go.clear()
        while True:
            with self.lock:
                if self.in_flight == 0:
                    return
            time.sleep(0.01)

    def resume(self) -> None:
        self.go.set()

    def stop(self) -> None:
        self.stopping.set()
        self.go.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def count(self) -> int:
        with self.lock:
            return len(self.seen)

    def between(self, start: float, end: float = float("inf")) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if start <= s.started < end]


@contextmanager
def running(load: Load) -> Iterator[Load]:
    load.start()
    try:
        yield load
    finally:
        load.stop()


@contextmanager
def slow_codes(nx: LoopbackNXCloud) -> Iterator[None]:
    """getCode and checkCode take a while (as over the internet): at any moment some requests
    are inside the call, between their committed pending row and its finish."""
    nx.on_request = lambda received: SLOW if received.path.endswith(("/getCode", "/checkCode")) else None
    yield


def is_calm(seen: Seen) -> bool:
    """Our 503: the page or the problem, Retry-After, the words, nothing of the error."""
    if seen.status != 503 or seen.retry_after != "60" or any(leak in seen.body for leak in LEAKS):
        return False
    if seen.path.startswith("/onboarding/api/"):
        return seen.content_type.startswith("application/problem+json") and PROBLEM_TYPE in seen.body
    return seen.content_type.startswith("text/html") and CALM in seen.body


@pytest.fixture(autouse=True)
def _asked_for_by_name(request: pytest.FixtureRequest) -> None:
    """Only when the run selects the marker (``-m pg_restart``): a plain ``pytest`` on PostgreSQL
    must not stop the server under everyone else's tests."""
    if "pg_restart" not in (request.config.option.markexpr or ""):
        pytest.skip("stops the machine's PostgreSQL: run it with -m pg_restart (make test-restart)")


def test_postgres_stopped_under_load_gives_calm_503s_no_half_rows_and_service_resumes() -> None:
    users = [make_user(f"customer-{i}").username for i in range(THREADS)]
    db_name = str(connection.settings_dict["NAME"])
    marks: dict[str, float] = {}
    with (
        LoopbackNXCloud() as nx,
        slow_codes(nx),
        tempfile.TemporaryFile() as log,
        gunicorn(db_name, nx.base_url, log) as base,
        running(Load(base, [signed_in(base, name, PASSWORD) for name in users])) as load,
    ):
        deadline = time.monotonic() + 30
        while load.count() < 60 and time.monotonic() < deadline:  # every worker has its connection
            time.sleep(0.05)
        with postgres_comes_back():
            connection.close()  # ours too: it will not survive
            # Stopped under load: requests are in flight, several of them inside NXCloud's call.
            marks["stop"] = time.monotonic()
            postgres("stop")
            marks["stopped"] = time.monotonic()
            time.sleep(OUTAGE)
            marks["start"] = time.monotonic()
            postgres("start")
            assert postgres_ready()
            marks["ready"] = time.monotonic()
            time.sleep(3)  # back, under load
            load.pause()
            marks["quiet"] = time.monotonic()
            # The persistent connections alone: a restart with nothing in flight, then two
            # clients at once until each worker has answered a few.
            postgres("restart")
            assert postgres_ready()
            marks["restarted"] = time.monotonic()
        answers = each_workers_answers(load)
        log.seek(0)
        server_log = log.read().decode(errors="replace")

    everything = load.between(0)
    stopping = load.between(marks["stop"], marks["stopped"])
    outage = load.between(marks["stopped"], marks["start"])
    back = load.between(marks["ready"], marks["quiet"])
    statuses = sorted({s.status for s in everything})
    print(
        f"\n{len(everything)} answers, statuses {statuses}; while stopping: {len(stopping)} answers, "
        f"{sum(s.status == 503 for s in stopping)} 503s; "
        f"stopped ({marks['start'] - marks['stopped']:.1f} s): "
        f"{len(outage)} answers, {sum(s.status == 503 for s in outage)} 503s; "
        f"back under load ({marks['quiet'] - marks['ready']:.1f} s): {len(back)} answers; "
        f"after the quiet restart, per worker: {answers}; "
        f"checkCode calls {len(nx.calls('checkCode'))}, getCode calls {len(nx.calls('getCode'))}"
    )

    # Not one 500, nor a dropped connection; every 5xx is the calm 503.
    assert [s for s in everything if s.status >= 500 and not is_calm(s)] == []
    assert set(statuses) <= {200, 302, 503}
    assert "Internal Server Error" not in server_log
    # The outage was met, under load: while the database was gone, every answer a calm 503.
    assert len(outage) >= THREADS
    assert [s for s in outage if not is_calm(s)] == []
    # Back by itself: every request after PostgreSQL answered succeeded, no server restart.
    assert back
    assert [s for s in back if s.status not in (200, 302)] == []
    # A broken persistent connection fails one request (the 503) at most; the next succeeds.
    assert len(answers) == 2, answers
    for worker_statuses in answers.values():
        assert worker_statuses[0] in (200, 503)
        assert set(worker_statuses[1:]) == {200}

    assert_no_half_written_rows(nx)


def each_workers_answers(load: Load, per_thread: int = 60) -> dict[str, list[int]]:
    """Each gunicorn worker's statuses, in the order it answered, for the list page asked by two
    clients at once until both workers have answered three times. Two at once: one client asking
    in turn may be answered by the same worker every time (the one that just finished is back at
    accept() first), and then the other worker's broken connection is never seen."""
    answers: dict[str, list[int]] = {}
    lock = threading.Lock()

    def enough() -> bool:
        return len(answers) >= 2 and all(len(statuses) >= 3 for statuses in answers.values())

    def ask(session: requests.Session) -> None:
        for _ in range(per_thread):
            with lock:
                if enough():
                    return
            seen = load.request(session, "GET", "/onboarding/")
            with lock:
                answers.setdefault(seen.worker, []).append(seen.status)

    threads = [threading.Thread(target=ask, args=(session,)) for session in load.sessions[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def assert_no_half_written_rows(nx: LoopbackNXCloud) -> None:
    connection.close()
    for model in (VerificationAttempt, CodeRequest):
        rows = model.objects.all()
        assert not rows.filter(outcome="pending", finished_at__isnull=False).exists(), model
        assert not rows.exclude(outcome="pending").filter(finished_at__isnull=True).exists(), model
    # Every call NXCloud received has its row: answered (finished) or pending (may have been
    # made); no finished answer without its call.
    attempts = VerificationAttempt.objects
    answered = attempts.filter(outcome__in=(Outcome.ACCEPTED, Outcome.REJECTED)).count()
    maybe = attempts.filter(outcome__in=(Outcome.PENDING, Outcome.UNKNOWN)).count()
    assert answered <= len(nx.calls("checkCode")) <= answered + maybe
    assert maybe >= 1  # the outage really cut checks mid-call: their pending rows are the evidence
    sends = CodeRequest.objects
    sent = sends.filter(outcome__in=(CodeRequest.Outcome.SENT, CodeRequest.Outcome.REJECTED)).count()
    maybe_sent = sends.filter(outcome__in=(CodeRequest.Outcome.PENDING, CodeRequest.Outcome.UNKNOWN)).count()
    assert sent <= len(nx.calls("getCode")) <= sent + maybe_sent
    # Verified exactly when its attempt was accepted.
    verified = PhoneRegistration.objects.filter(verified_at__isnull=False)
    assert set(verified.values_list("pk", flat=True)) == set(
        attempts.filter(outcome=Outcome.ACCEPTED).values_list("registration", flat=True)
    )
    assert not PhoneRegistration.objects.filter(
        Q(status__in=(Status.VERIFIED, Status.CLIENT_CREATED, Status.REGISTERED)), verified_at__isnull=True
    ).exists()
    # A code out only with a code sent.
    waiting = PhoneRegistration.objects.filter(status=Status.CODE_SENT)
    assert not waiting.exclude(code_requests__outcome=CodeRequest.Outcome.SENT).exists()
    print(
        f"rows: {attempts.count()} attempts ({answered} answered, {maybe} pending/unknown), "
        f"{sends.count()} code requests ({sent} answered, {maybe_sent} pending/unknown), "
        f"{verified.count()} verified"
    )
