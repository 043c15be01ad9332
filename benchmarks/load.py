"""The customer pages under load: gunicorn (2 sync workers) + PostgreSQL + the loopback NXCloud.

A load generator (Python threads with ``requests``, one signed-in session each) runs each phase
for a fixed time on loopback: a trivial Django view (the floor), the start page, the status
page, the code submission (each on a registration with a code sent, accepted by the stand-in)
and the start form's POST (a new registration and a getCode). Afterwards every submission
must have its attempt row.
"""

from __future__ import annotations

import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2
THREADS = 8
USERNAME = "bench-customer"
PASSWORD = "bench-customer-pw"


@dataclass
class Phase:
    name: str
    samples: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    elapsed: float = 0.0

    def record(self, seconds: float, status: int) -> None:
        with self.lock:
            self.samples.append(seconds)
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def summary(self) -> dict[str, Any]:
        ms = sorted(s * 1000 for s in self.samples)
        count = len(ms)
        return {
            "requests": count,
            "rps": round(count / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": round(statistics.median(ms), 2) if ms else 0.0,
            "p99_ms": round(ms[min(int(count * 0.99), count - 1)], 2) if ms else 0.0,
            "errors_5xx": sum(n for code, n in self.statuses.items() if code >= 500),
            "statuses": {str(code): n for code, n in sorted(self.statuses.items())},
        }


def post_form(
    session: requests.Session, url: str, data: dict[str, str], headers: dict[str, str] | None = None
) -> requests.Response:
    """A page's form posted as a browser would: the CSRF token, ``url`` as the Referer, no redirect
    followed."""
    return session.post(
        url,
        data={**data, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": url, **(headers or {})},
        allow_redirects=False,
        timeout=30,
    )


def signed_in_session(base: str, username: str = USERNAME, password: str = PASSWORD) -> requests.Session:
    # Imported here: this file also runs as the loopback stand-in's child, before sys.path has ROOT.
    from harness.login import signed_in

    return signed_in(base, username, password)


def run_phase(
    phase: Phase,
    sessions: list[requests.Session],
    seconds: float,
    request: Callable[[requests.Session, int], requests.Response | None],
) -> None:
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        session = sessions[index]
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = request(session, index)
            except requests.RequestException:
                phase.record(time.perf_counter() - started, 599)
                continue
            if response is None:  # nothing left to do in this phase
                return
            phase.record(time.perf_counter() - started, response.status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(sessions))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.elapsed = time.monotonic() - started


def with_code_sent(
    owners: list[Any], numbers: list[str], *, channel: str = "customer", addresses: list[str] | None = None
) -> list[Any]:
    """Registrations of ``numbers`` (owned in turn by ``owners``), each with a code sent just
    now, as request_code leaves them; ``addresses``: each send's address."""
    from django.utils import timezone

    from nxwa_onboarding.models import CodeRequest, PhoneRegistration

    now = timezone.now()
    registrations = PhoneRegistration.objects.bulk_create(
        PhoneRegistration(
            phone_number=number,
            status=PhoneRegistration.Status.CODE_SENT,
            owner=owners[i % len(owners)],
            created_by=owners[i % len(owners)],
            last_code_method="sms",
            code_sent_at=now,
        )
        for i, number in enumerate(numbers)
    )
    CodeRequest.objects.bulk_create(
        CodeRequest(
            registration=registration,
            method="sms",
            channel=channel,
            outcome=CodeRequest.Outcome.SENT,
            result_code=0,
            http_status=200,
            finished_at=now,
            ip=addresses[i] if addresses else None,
        )
        for i, registration in enumerate(registrations)
    )
    return list(registrations)


TRIVIAL = "trivial Django view"
TRIVIAL_PATH = "/bench/trivial/"


def run_phases(
    requests_by_name: Sequence[tuple[str, Callable[[requests.Session, int], requests.Response | None]]],
    sessions: list[requests.Session],
    seconds: float,
    *,
    digits: int = 2,
) -> dict[str, dict[str, Any]]:
    """Each phase in turn for ``seconds`` (the first: the trivial view, ``TRIVIAL``); each one's
    summary, with its requests per second against the trivial view's (``rps_vs_trivial``,
    rounded to ``digits``)."""
    phases = {name: Phase(name) for name, _request in requests_by_name}
    for name, request in requests_by_name:
        run_phase(phases[name], sessions, seconds, request)
    rows = {name: phase.summary() for name, phase in phases.items()}
    trivial_rps = rows[TRIVIAL]["rps"]
    for row in rows.values():
        row["rps_vs_trivial"] = round(row["rps"] / trivial_rps, digits) if trivial_rps else 0.0
    return rows


def prepare(count: int) -> list[Any]:
    """The bench customer and ``count`` registrations with a code sent (as request_code leaves them)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD)
    return with_code_sent([user], [f"86137{i:08d}" for i in range(count)])


def start_process(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@contextmanager
def served(db_name: str, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """The loopback NXCloud stand-in, and gunicorn serving the benchmark project against it
    (``extra_env``: more of the environment benchmarks/settings.py reads); yields the site's
    base URL once it answers, and stops both afterwards."""
    # Imported here: this file also runs as the loopback stand-in's child, before sys.path has ROOT.
    from harness.processes import gunicorn, stop

    loopback = start_process([sys.executable, str(Path(__file__)), "--serve-loopback"], {})
    try:
        assert loopback.stdout is not None
        loopback_url = loopback.stdout.readline().strip()
        env = {
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "NXWA_BENCH_DB_NAME": db_name,
            "NXWA_BENCH_BASE_URL": loopback_url,
            **(extra_env or {}),
        }
        app = "benchmarks.wsgi:application"
        with (
            tempfile.TemporaryFile() as log,
            gunicorn(app, env, log, workers=WORKERS, ready_path=TRIVIAL_PATH) as base,
        ):
            yield base
    finally:
        stop(loopback)


def bench_load(*, seconds: float, db_name: str) -> dict[str, Any]:
    from django.urls import NoReverseMatch, reverse

    from nxwa_onboarding.models import PhoneRegistration, VerificationAttempt

    try:
        reverse("nxwa_onboarding:check", kwargs={"public_id": "00000000-0000-0000-0000-000000000000"})
    except NoReverseMatch:
        return {"skipped": "the customer pages are not there yet"}
    registrations = prepare(6000 if seconds > 5 else 2000)
    with served(db_name) as base:
        sessions = [signed_in_session(base) for _ in range(THREADS)]
        pending: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for registration in registrations:
            pending.put(registration)
        submitted: list[Any] = []
        submitted_lock = threading.Lock()
        numbers = iter(range(10**7))
        numbers_lock = threading.Lock()

        def trivial(session: requests.Session, index: int) -> requests.Response:
            return session.get(base + "/bench/trivial/", timeout=30)

        def start_page(session: requests.Session, index: int) -> requests.Response:
            return session.get(base + reverse("nxwa_onboarding:start"), timeout=30)

        def status_page(session: requests.Session, index: int) -> requests.Response:
            registration = registrations[int(time.perf_counter() * 1e6) % len(registrations)]
            return session.get(base + registration.get_absolute_url(), timeout=30)

        def submit_code(session: requests.Session, index: int) -> requests.Response | None:
            try:
                registration = pending.get_nowait()
            except queue.Empty:
                return None
            with submitted_lock:
                submitted.append(registration)
            url = base + reverse("nxwa_onboarding:check", kwargs={"public_id": registration.public_id})
            return post_form(session, url, {"code": "123 456"})

        def start_post(session: requests.Session, index: int) -> requests.Response:
            with numbers_lock:
                number = next(numbers)
            url = base + reverse("nxwa_onboarding:start")
            return post_form(session, url, {"phone_number": f"+86 136 {number:08d}", "method": "sms"})

        named = [
            (TRIVIAL, trivial),
            ("start page (GET)", start_page),
            ("status page (GET)", status_page),
            ("code submission (POST)", submit_code),
            ("start form (POST: new registration + getCode)", start_post),
        ]
        rows = run_phases(named, sessions, seconds)
    submissions = len(submitted)
    attempt_rows = VerificationAttempt.objects.filter(registration__in=[r.pk for r in submitted]).count()
    accepted = PhoneRegistration.objects.filter(
        pk__in=[r.pk for r in submitted], status=PhoneRegistration.Status.VERIFIED
    ).count()
    return {
        "workers": WORKERS,
        "threads": THREADS,
        "seconds": seconds,
        "pages": rows,
        "submissions": submissions,
        "attempt_rows": attempt_rows,
        "verified": accepted,
        "lost_attempts": submissions - attempt_rows,
        "total_5xx": sum(row["errors_5xx"] for row in rows.values()),
    }


def serve_loopback() -> None:
    """Child process: the loopback NXCloud, answering every call with success, until stdin closes."""
    sys.path.insert(0, str(ROOT))
    from harness.loopback import LoopbackNXCloud

    with LoopbackNXCloud() as server:
        print(server.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve-loopback"]:
        import signal

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve_loopback()
