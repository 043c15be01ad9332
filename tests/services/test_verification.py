"""``services.check_code``: checkCode's outcome table, the signals, the code and the secret absent
from a full dump, and the statements of an accepted check."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from io import StringIO
from typing import Any
from unittest import mock

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nxwa_onboarding import services, signals
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.nxcloud.client import NXCloudClient
from tests.helpers.services import (
    CODE,
    OTHER_PHONE,
    PHONE,
    WRONG,
    answer,
    body_of,
    caught,
    check,
    fail_with,
    mocked_nxcloud,
    never_connected,
    rules,
    with_code,
)

pytestmark = pytest.mark.django_db


Status = PhoneRegistration.Status
SECRET = "test-access-secret-CANARY-7f3a"  # tests/settings.py


# -- checkCode -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param("\uff18\uff16\uff14\uff12\uff10\uff19", id="full-width"),
        pytest.param("\u0668\u0666\u0664-\u0662\u0660\u0669", id="arabic-indic"),
        pytest.param("\u06f8\u06f6\u06f4 \u06f2\u06f0\u06f9", id="extended-arabic-indic"),
    ],
)
def test_a_code_in_other_digits_is_sent_as_ascii_digits(typed: str) -> None:
    """Every face (customer page, admin, commands, API) goes through here: NXCloud gets 864209."""
    registration = with_code()
    with mocked_nxcloud() as rsps:
        answer(rsps, "checkCode", 0, "success")
        attempt = services.check_code(registration, typed, channel="api")
        assert body_of(rsps.calls[0]) == {"phone_number": PHONE, "code": CODE}
    assert attempt.outcome == "accepted"
    assert attempt.code_digest == services.code_digest(registration, CODE)


def test_accepted_verifies_and_signals() -> None:
    registration = with_code()
    with caught(signals.code_verified) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "checkCode", 0, "success")
        attempt = services.check_code(registration, "864-209", ip="203.0.113.7", channel="customer")
        assert len(rsps.calls) == 1
        assert body_of(rsps.calls[0]) == {"phone_number": PHONE, "code": CODE}
    assert attempt.outcome == "accepted"
    assert (attempt.result_code, attempt.http_status) == (0, 200)
    assert attempt.finished_at is not None
    assert attempt.duration_ms is not None
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED
    assert registration.verified_at == attempt.finished_at
    assert registration.is_verified
    assert len(sent) == 1
    assert sent[0]["registration"].pk == registration.pk
    assert sent[0]["attempt"].pk == attempt.pk
    assert sent[0]["sender"] is PhoneRegistration
    stored = VerificationAttempt.objects.get(pk=attempt.pk)
    assert stored.outcome == "accepted"
    assert stored.code_request == CodeRequest.objects.get()
    assert stored.channel == "customer"
    assert stored.code_digest == services.code_digest(registration, CODE)


@pytest.mark.parametrize("result", [-1, 9001, 9002, 9003, 1, 4000, 131000])
def test_business_refusals_are_rejected_and_count(result: int) -> None:
    registration = with_code()
    with caught(signals.code_verified) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "checkCode", result, "wrong code")
        attempt = services.check_code(registration, WRONG)
        assert len(rsps.calls) == 1
    assert attempt.outcome == "rejected"
    assert (attempt.result_code, attempt.result_message, attempt.http_status) == (result, "wrong code", 200)
    assert services.get_state(registration).check.attempts_used == 1
    registration.refresh_from_db()
    assert registration.status == Status.CODE_SENT
    assert not sent


@pytest.mark.parametrize("result", [1001, 1002, 1003, 1004, 1005, 9000, 9007])
def test_configuration_problems_are_failed_do_not_count_and_are_logged(
    result: int, caplog: pytest.LogCaptureFixture
) -> None:
    registration = with_code()
    with caplog.at_level(logging.ERROR, logger="nxwa_onboarding"), mocked_nxcloud() as rsps:
        answer(rsps, "checkCode", result, "refused")
        attempt = services.check_code(registration, CODE)
        # 1004 (timestamp expired) is re-signed and sent once more by the client, by design
        assert len(rsps.calls) == (2 if result == 1004 else 1)
    assert attempt.outcome == "failed"
    assert attempt.result_code == result
    assert services.get_state(registration).check.attempts_used == 0
    errors = [
        r for r in caplog.records if r.levelno == logging.ERROR and r.name == "nxwa_onboarding.services"
    ]
    assert len(errors) == 1
    assert "configuration problem" in errors[0].getMessage()
    registration.refresh_from_db()
    assert registration.status == Status.CODE_SENT


def test_missing_credentials_are_failed_without_a_request(caplog: pytest.LogCaptureFixture) -> None:
    registration = with_code()
    with rules(ACCESS_SECRET=""), mocked_nxcloud() as rsps, caplog.at_level(logging.ERROR):
        attempt = services.check_code(registration, CODE)
        assert not rsps.calls
    assert attempt.outcome == "failed"
    assert "ACCESS_SECRET" in attempt.result_message
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_never_sent_is_failed_and_does_not_count() -> None:
    registration = with_code()
    with mocked_nxcloud() as rsps, mock.patch("time.sleep"):
        for _ in range(3):
            fail_with(rsps, "checkCode", never_connected())
        attempt = services.check_code(registration, CODE)
        assert len(rsps.calls) == 3  # the client retries only a connection never established
    assert attempt.outcome == "failed"
    assert attempt.result_code is None
    assert attempt.result_message == "could not connect"
    assert services.get_state(registration).check.attempts_used == 0


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(
            lambda rsps: fail_with(rsps, "checkCode", requests.ReadTimeout("slow")), id="read-timeout"
        ),
        pytest.param(
            lambda rsps: fail_with(rsps, "checkCode", requests.ConnectionError("reset by peer")), id="dropped"
        ),
        pytest.param(lambda rsps: answer(rsps, "checkCode", 0, status=502), id="http-502"),
        pytest.param(
            lambda rsps: rsps.post(
                "https://api2.nxcloud.com/api/wa/integrator/embedded/register/checkCode", body="<html>"
            ),
            id="not-json",
        ),
    ],
)
def test_maybe_sent_is_unknown_counts_and_is_never_resent(failure: Any) -> None:
    registration = with_code()
    with caught(signals.code_verified) as sent, mocked_nxcloud() as rsps:
        failure(rsps)
        attempt = services.check_code(registration, CODE)
        assert len(rsps.calls) == 1  # exactly one request: never resent automatically
    assert attempt.outcome == "unknown"
    assert services.get_state(registration).check.attempts_used == 1
    registration.refresh_from_db()
    assert registration.status == Status.CODE_SENT
    assert not sent


def test_an_unexpected_error_finishes_the_row_as_unknown_and_is_raised() -> None:
    registration = with_code()
    with (
        mocked_nxcloud() as rsps,
        mock.patch.object(NXCloudClient, "check_code", side_effect=RuntimeError("bug")),
        pytest.raises(RuntimeError, match="bug"),
    ):
        services.check_code(registration, CODE)
    assert not rsps.calls
    attempt = VerificationAttempt.objects.get()
    assert attempt.outcome == "unknown"  # never left pending
    assert attempt.finished_at is not None


def test_a_row_reconciled_during_the_call_keeps_its_record() -> None:
    """nxwa_reconcile --older-than 0 while a call is running: the row stays as reconciled (a
    finished row never changes), the caller still learns the answer and the number is verified."""
    registration = with_code()

    def reconcile_midway(*args: Any, **kwargs: Any) -> None:
        services.reconcile_pending(older_than=timedelta(0))

    with mock.patch.object(NXCloudClient, "check_code", side_effect=reconcile_midway):
        attempt = services.check_code(registration, CODE)
    assert attempt.outcome == "accepted"
    assert VerificationAttempt.objects.get().outcome == "unknown"
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED


def test_the_code_is_not_in_an_error_message() -> None:
    registration = with_code()
    with mocked_nxcloud() as rsps:
        answer(rsps, "checkCode", 9001, f"code {CODE} is wrong")
        attempt = services.check_code(registration, CODE)
    assert CODE not in attempt.result_message


# -- the code and the secret never stored ----------------------------------------------------------


def test_the_code_and_the_secret_are_absent_from_a_full_dump(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    registration = with_code()
    check(registration, "864 208", 9001)  # a near miss
    with mocked_nxcloud() as rsps:
        answer(rsps, "checkCode", 9001, f"wrong code {CODE}")
        services.check_code(registration, CODE)
    services.check_code(registration, CODE + "x")  # malformed, refused
    check(registration, CODE)  # accepted
    second = with_code(OTHER_PHONE)
    check(second, CODE, -1)
    out = StringIO()
    call_command("dumpdata", stdout=out)
    dump = out.getvalue()
    assert json.loads(dump)  # a real dump
    assert "nxwa_onboarding.verificationattempt" in dump
    assert CODE not in dump
    assert "864208" not in dump
    assert "864 208" not in dump
    assert SECRET not in dump
    logs = "\n".join(record.getMessage() for record in caplog.records)
    assert CODE not in logs
    assert SECRET not in logs
    digests = set(
        VerificationAttempt.objects.filter(outcome="accepted").values_list("code_digest", flat=True)
    )
    digests |= set(
        VerificationAttempt.objects.filter(registration=second).values_list("code_digest", flat=True)
    )
    assert len(digests) == 2  # same code, two registrations, two digests


# -- queries ---------------------------------------------------------------------------------------


def test_check_code_accepted_path_query_count() -> None:
    registration = with_code()
    with mocked_nxcloud() as rsps, CaptureQueriesContext(connection) as queries:
        answer(rsps, "checkCode")
        attempt = services.check_code(registration, CODE, ip="203.0.113.7")
    assert attempt.outcome == "accepted"
    sql = [q["sql"] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        # The per-address count is serialised by an advisory lock taken in the INSERT itself.
        assert "pg_advisory_xact_lock" in sql[1]
    # Inside the test's transaction (as in a TestCase), in this order:
    #  1. SAVEPOINT               the short transaction around insert-then-check
    #  2. INSERT pending attempt  one pending per registration (partial unique index); its
    #                             code_request_id is a subquery for the current code
    #  3. SELECT registration     fresh status/verified_at, the current code and its time, and as
    #                             subqueries the counts: attempts on this code, other pending
    #                             attempts, attempts from this IP in the last hour and the oldest,
    #                             and the holds on the call: the failure budgets spent and the
    #                             breaker (services.breaker)
    #  4. RELEASE SAVEPOINT       the pending row is committed before the call
    #     -- the checkCode call: no transaction open --
    #  5. UPDATE attempt          finish it: accepted, result, HTTP status, duration, finished_at
    #  6. UPDATE registration     verified, verified_at (5 and 6 in one transaction)
    assert len(sql) == 6, "\n".join(sql)
    assert len(sql) <= 8  # the budget
    assert sql[0].startswith("SAVEPOINT")
    assert sql[1].startswith('INSERT INTO "nxwa_onboarding_verificationattempt"')
    assert sql[2].startswith("SELECT")
    assert 'FROM "nxwa_onboarding_phoneregistration"' in sql[2]
    assert sql[2].count("COUNT(") == 3
    assert 'FROM "nxwa_onboarding_callhold"' in sql[2]  # the holds, in the same statement
    assert sql[3].startswith("RELEASE SAVEPOINT")
    assert sql[4].startswith('UPDATE "nxwa_onboarding_verificationattempt"')
    assert sql[5].startswith('UPDATE "nxwa_onboarding_phoneregistration"')


@pytest.mark.django_db(transaction=True)
def test_check_code_accepted_path_query_count_in_autocommit() -> None:
    """As in production, with no test transaction around it: within 8, transaction control
    statements included (the holds on the call are read in the rules' SELECT)."""
    registration = with_code()
    with mocked_nxcloud() as rsps, CaptureQueriesContext(connection) as queries:
        answer(rsps, "checkCode")
        attempt = services.check_code(registration, CODE, ip="203.0.113.7")
    assert attempt.outcome == "accepted"
    sql = [q["sql"].split()[0] for q in queries.captured_queries]
    # The same six statements, each transaction's BEGIN and COMMIT logged too (both backends).
    assert sql == ["BEGIN", "INSERT", "SELECT", "COMMIT", "BEGIN", "UPDATE", "UPDATE", "COMMIT"]
    assert len(sql) <= 8


@pytest.mark.parametrize("allowed", [1, 3, 5])
def test_the_tries_left_on_a_rejected_attempt_are_those_the_state_reads(allowed: int) -> None:
    """``check_code`` tells the doors the tries left after a rejected code from the rules it
    just read (no second read of the whole state): the same figure ``get_state`` gives."""
    with rules(MAX_CHECK_ATTEMPTS=allowed):
        registration = with_code()
        for _ in range(allowed):
            attempt = check(registration, WRONG, result=9001)
            assert attempt.outcome == "rejected"
            assert attempt.attempts_left == services.get_state(registration).check.attempts_left
        refused = check(registration, WRONG, result=9001)
        assert refused.outcome == "refused"
        assert refused.attempts_left is None
