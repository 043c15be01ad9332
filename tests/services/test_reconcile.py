"""Crash recovery: a process killed during the call leaves a ``pending`` row, and
``nxwa_reconcile`` turns stale pending rows into ``unknown`` without ever calling NXCloud."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from harness.loopback import Behaviour, LoopbackNXCloud
from nxwa_onboarding import services
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, RefusalReason, VerificationAttempt
from tests.helpers.services import CODE, T0, eventually, mocked_nxcloud, new_registration, rules, with_code

CHILD = Path(__file__).resolve().parent.parent / "helpers" / "crash_child.py"
ROOT = Path(__file__).resolve().parents[2]


def reconcile(*args: str) -> str:
    out = StringIO()
    call_command("nxwa_reconcile", *args, stdout=out)
    return out.getvalue()


@contextmanager
def no_nxcloud() -> Iterator[None]:
    """Any attempt to reach NXCloud, through the client or over HTTP, fails the test."""
    with (
        mocked_nxcloud() as rsps,
        mock.patch.object(
            services.calls, "get_client", side_effect=AssertionError("nxwa_reconcile called NXCloud")
        ),
    ):
        yield
        assert not rsps.calls


# -- the command, with the clock moved ----------------------------------------------------------------


def pending_rows(registration: PhoneRegistration) -> tuple[VerificationAttempt, CodeRequest]:
    attempt = VerificationAttempt.objects.create(
        registration=registration, channel="customer", code_digest="d"
    )
    code_request = CodeRequest.objects.create(registration=registration, channel="customer", method="sms")
    return attempt, code_request


@pytest.mark.django_db
def test_default_age_leaves_fresh_rows_alone_and_marks_stale_ones_unknown() -> None:
    with time_machine.travel(T0, tick=False) as clock, no_nxcloud():
        registration = new_registration()
        attempt, code_request = pending_rows(registration)
        stale = services.stale_after()
        # (3 * connect + backoffs + 2 * (connect + read + the answer's deadline)) + 60 s, from
        # the default TIMEOUT (the deadline: 3 * read, at least 30 s)
        assert stale == timedelta(seconds=3 * 3.05 + 0.2 + 0.5 + 2 * (3.05 + 10.0 + 30.0) + 60)

        assert reconcile() == "Marked 0 pending attempt(s) and 0 pending code request(s) as unknown.\n"
        clock.shift(stale - timedelta(seconds=1))
        assert reconcile() == "Marked 0 pending attempt(s) and 0 pending code request(s) as unknown.\n"
        assert VerificationAttempt.objects.get().outcome == "pending"
        assert CodeRequest.objects.get().outcome == "pending"

        clock.shift(2)
        assert reconcile() == "Marked 1 pending attempt(s) and 1 pending code request(s) as unknown.\n"
    attempt.refresh_from_db()
    code_request.refresh_from_db()
    assert attempt.outcome == code_request.outcome == "unknown"
    assert attempt.finished_at == T0 + stale + timedelta(seconds=1)
    assert "nxwa_reconcile" in attempt.result_message
    # a send of unknown fate may have delivered a code: the person may type it in
    registration.refresh_from_db()
    assert registration.status == PhoneRegistration.Status.CODE_SENT
    # and nothing more to do
    assert reconcile("--older-than", "0").startswith("Marked 0 pending attempt(s) and 0")


@pytest.mark.django_db
def test_the_default_age_follows_the_timeout_setting() -> None:
    with rules(TIMEOUT=(1.0, 2.0)):
        assert services.stale_after() == timedelta(seconds=3 * 1.0 + 0.7 + 2 * (3.0 + 30.0) + 60)
    with rules(TIMEOUT=30):
        assert services.stale_after() == timedelta(seconds=3 * 30 + 0.7 + 2 * (60 + 90.0) + 60)


@pytest.mark.django_db
def test_older_than() -> None:
    with time_machine.travel(T0, tick=False) as clock, no_nxcloud():
        pending_rows(new_registration())
        clock.shift(30)
        assert reconcile("--older-than", "31").startswith("Marked 0 pending attempt(s)")
        assert reconcile("--older-than", "29") == (
            "Marked 1 pending attempt(s) and 1 pending code request(s) as unknown.\n"
        )


@pytest.mark.django_db
def test_finished_rows_are_never_touched() -> None:
    registration = with_code()
    VerificationAttempt.objects.create(
        registration=registration,
        channel="api",
        code_digest="d",
        outcome="rejected",
        finished_at=T0,
        result_message="wrong",
    )
    before = list(VerificationAttempt.objects.values()) + list(CodeRequest.objects.values())
    with no_nxcloud():
        assert reconcile("--older-than", "0").startswith("Marked 0 pending attempt(s) and 0")
    assert before == list(VerificationAttempt.objects.values()) + list(CodeRequest.objects.values())


@pytest.mark.django_db
def test_an_unknown_attempt_counts_toward_the_cap_and_is_never_resent() -> None:
    with rules(MAX_CHECK_ATTEMPTS=1):
        registration = with_code()
        VerificationAttempt.objects.create(
            registration=registration,
            code_request=CodeRequest.objects.get(),
            channel="customer",
            code_digest="d",
        )
        with no_nxcloud():
            assert reconcile("--older-than", "0").startswith("Marked 1 pending attempt(s)")
        state = services.get_state(registration).check
        assert state.attempts_used == 1
        assert state.refusal == services.Refusal(RefusalReason.TOO_MANY_ATTEMPTS, state.refusal.until)  # type: ignore[union-attr]
    registration.refresh_from_db()
    assert registration.status == PhoneRegistration.Status.CODE_SENT  # not verified, not resent


def test_reconcile_logs_what_it_did(caplog: pytest.LogCaptureFixture, db: None) -> None:
    pending_rows(new_registration())
    with caplog.at_level("WARNING", logger="nxwa_onboarding"):
        services.reconcile_pending(older_than=timedelta(0))
    assert "reconciled 1 pending attempts and 1 pending code requests" in caplog.text


# -- a real process killed during the call ----------------------------------------------------------


def child_env(base_url: str) -> dict[str, str]:
    db = connection.settings_dict
    database = {key: db[key] for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")}
    database["NAME"] = str(database["NAME"])
    return {
        **os.environ,
        "NXWA_CHILD_DATABASE": json.dumps(database),
        "NXWA_CHILD_BASE_URL": base_url,
        "PYTHONPATH": str(ROOT),
    }


def kill_during_the_call(server: LoopbackNXCloud, action: str, ready: Any, *args: str) -> str:
    """Start the child, wait until ``ready()`` and the request is at the server, SIGKILL it."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), action, *args],
        env=child_env(server.base_url),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        reached = eventually(lambda: ready() and len(server.calls()) == 1, timeout=60)
        if not reached:
            child.kill()
            output = child.communicate(timeout=10)[0]
            pytest.fail(f"the child never got its call in flight:\n{output}")
        child.send_signal(signal.SIGKILL)
        output = child.communicate(timeout=10)[0]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert child.returncode == -signal.SIGKILL, output
    assert "the call returned" not in output
    return output


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_check_killed_during_the_call_is_reconciled_to_unknown() -> None:
    registration = with_code()
    with LoopbackNXCloud(default=Behaviour(kind="hang")) as server:
        kill_during_the_call(
            server,
            "check",
            lambda: VerificationAttempt.objects.filter(outcome="pending").exists(),
            str(registration.public_id),
            CODE,
        )
        attempt = VerificationAttempt.objects.get()
        assert attempt.outcome == "pending"  # the evidence survived the crash
        assert attempt.channel == "command"
        assert attempt.code_request_id == CodeRequest.objects.get().pk
        assert attempt.finished_at is None
        assert len(server.calls("checkCode")) == 1

        # Meanwhile the registration is blocked, not double-checked: a new check is refused.
        with mocked_nxcloud() as rsps:
            refused = services.check_code(registration, CODE)
            assert not rsps.calls
        assert refused.refusal_reason == RefusalReason.IN_FLIGHT

        # The default age leaves a fresh row alone (the call might still be running).
        assert reconcile().startswith("Marked 0 pending attempt(s)")
        assert VerificationAttempt.objects.get(pk=attempt.pk).outcome == "pending"

        with mock.patch.object(services.calls, "get_client", side_effect=AssertionError("resent")):
            out = reconcile("--older-than", "0")
        assert out == "Marked 1 pending attempt(s) and 0 pending code request(s) as unknown.\n"
        attempt.refresh_from_db()
        assert attempt.outcome == "unknown"
        assert attempt.finished_at is not None
        assert len(server.calls("checkCode")) == 1  # nothing was resent
        assert len(server.calls()) == 1
    assert services.get_state(registration).check.attempts_used == 1  # unknown counts
    registration.refresh_from_db()
    assert registration.status == PhoneRegistration.Status.CODE_SENT


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_send_killed_during_the_call_is_reconciled_to_unknown() -> None:
    registration = new_registration()
    with LoopbackNXCloud(default=Behaviour(kind="hang")) as server:
        kill_during_the_call(
            server,
            "send",
            lambda: CodeRequest.objects.filter(outcome="pending").exists(),
            str(registration.public_id),
        )
        assert CodeRequest.objects.get().outcome == "pending"
        assert reconcile("--older-than", "0") == (
            "Marked 0 pending attempt(s) and 1 pending code request(s) as unknown.\n"
        )
        assert CodeRequest.objects.get().outcome == "unknown"
        assert len(server.calls()) == 1
    registration.refresh_from_db()
    assert registration.status == PhoneRegistration.Status.CODE_SENT  # a code may have arrived
