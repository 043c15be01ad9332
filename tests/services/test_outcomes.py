"""The outcome tables of checkCode and getCode, createClient, phoneList status sync, the signals,
the code absent from a full dump, and the queries of an accepted check."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from io import StringIO
from typing import Any
from unittest import mock

import pytest
import requests
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from nxwa_onboarding import services, signals
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.nxcloud.client import NXCloudClient
from nxwa_onboarding.nxcloud.exceptions import (
    InvalidStateError,
    NXCloudBusinessError,
    NXCloudConfigurationError,
    TransportError,
)
from tests.helpers.services import (
    CODE,
    OTHER_PHONE,
    PHONE,
    THIRD_PHONE,
    WRONG,
    answer,
    body_of,
    calls_to,
    caught,
    check,
    fail_with,
    mocked_nxcloud,
    never_connected,
    new_registration,
    rules,
    verified,
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


# -- getCode ---------------------------------------------------------------------------------------


def test_sent() -> None:
    registration = new_registration()
    with caught(signals.code_requested) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "getCode")
        code_request = services.request_code(registration, "voice", ip="203.0.113.7", channel="admin")
        assert len(rsps.calls) == 1
        assert body_of(rsps.calls[0]) == {"phone_number": PHONE, "method": "voice"}
    assert code_request.outcome == "sent"
    assert (code_request.method, code_request.channel, code_request.ip) == ("voice", "admin", "203.0.113.7")
    assert code_request.finished_at is not None
    registration.refresh_from_db()
    assert registration.status == Status.CODE_SENT
    assert registration.last_code_method == "voice"
    assert registration.code_sent_at is not None
    assert len(sent) == 1
    assert sent[0]["code_request"].pk == code_request.pk
    assert sent[0]["registration"].pk == registration.pk


@pytest.mark.parametrize("result", [-1, 9001, 9004])
def test_send_rejected(result: int) -> None:
    registration = new_registration()
    with caught(signals.code_requested) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "getCode", result, "no")
        code_request = services.request_code(registration)
        assert len(rsps.calls) == 1
    assert code_request.outcome == "rejected"
    assert code_request.result_code == result
    registration.refresh_from_db()
    assert registration.status == Status.NEW
    assert not sent


@pytest.mark.parametrize("result", [1001, 1003, 1005, 9000, 9007])
def test_send_failed_on_configuration(result: int, caplog: pytest.LogCaptureFixture) -> None:
    registration = new_registration()
    with caplog.at_level(logging.ERROR), mocked_nxcloud() as rsps:
        answer(rsps, "getCode", result)
        code_request = services.request_code(registration)
        assert len(rsps.calls) == 1
    assert code_request.outcome == "failed"
    assert any(r.levelno == logging.ERROR and r.name == "nxwa_onboarding.services" for r in caplog.records)
    registration.refresh_from_db()
    assert registration.status == Status.NEW


def test_send_never_connected_is_failed() -> None:
    registration = new_registration()
    with mocked_nxcloud() as rsps, mock.patch("time.sleep"):
        for _ in range(3):
            fail_with(rsps, "getCode", never_connected())
        code_request = services.request_code(registration)
    assert code_request.outcome == "failed"
    registration.refresh_from_db()
    assert registration.status == Status.NEW


def test_send_maybe_sent_is_unknown_never_resent_and_lets_a_code_be_typed() -> None:
    registration = new_registration()
    with caught(signals.code_requested) as sent, mocked_nxcloud() as rsps:
        fail_with(rsps, "getCode", requests.ReadTimeout("slow"))
        code_request = services.request_code(registration)
        assert len(rsps.calls) == 1
    assert code_request.outcome == "unknown"
    assert not sent
    registration.refresh_from_db()
    assert registration.status == Status.CODE_SENT
    assert check(registration, CODE).outcome == "accepted"  # the code may have arrived


def test_request_code_refuses_an_unknown_method() -> None:
    registration = new_registration()
    with mocked_nxcloud() as rsps, pytest.raises(ValidationError):
        services.request_code(registration, "carrier-pigeon")
    assert not rsps.calls
    assert not CodeRequest.objects.exists()


def test_start_registration_creates_and_sends() -> None:
    with mocked_nxcloud() as rsps:
        answer(rsps, "getCode")
        registration = services.start_registration("+86 138-0013-8000", method="sms", ip="203.0.113.7")
        assert len(calls_to(rsps, "getCode")) == 1
    registration.refresh_from_db()
    assert registration.status == Status.CODE_SENT
    assert registration.code_requests.latest().outcome == "sent"


def test_start_registration_keeps_the_registration_when_the_send_fails() -> None:
    with mocked_nxcloud() as rsps:
        answer(rsps, "getCode", 9001)
        registration = services.start_registration(PHONE)
    assert PhoneRegistration.objects.get().pk == registration.pk
    assert registration.code_requests.latest().outcome == "rejected"


def test_start_registration_refuses_before_anything_is_saved() -> None:
    with mocked_nxcloud() as rsps:
        with pytest.raises(ValidationError):
            services.start_registration(PHONE, method="fax")
        with pytest.raises(ValidationError):
            services.start_registration("+86 123")
        assert not rsps.calls
    assert not PhoneRegistration.objects.exists()


def test_start_registration_for_an_open_number_is_a_validation_error() -> None:
    with_code()
    with mocked_nxcloud() as rsps, pytest.raises(ValidationError, match="already being onboarded"):
        services.start_registration(PHONE)
    assert not rsps.calls


# -- createClient ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["new", "code_sent", "failed"])
def test_create_client_before_verification_is_invalid(status: str) -> None:
    registration = new_registration()
    PhoneRegistration.objects.filter(pk=registration.pk).update(status=status)
    with caught(signals.client_created) as sent, mocked_nxcloud() as rsps, pytest.raises(InvalidStateError):
        services.create_client(registration)
    assert not rsps.calls
    assert not sent


def test_create_client(django_user_model: Any) -> None:
    registration = verified()
    user = django_user_model.objects.create_user("clerk")
    with caught(signals.client_created) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "createClient")
        result = services.create_client(registration, user=user)
        assert len(rsps.calls) == 1
        assert body_of(rsps.calls[0]) == {"phone_number": PHONE}
    assert result.status == Status.CLIENT_CREATED
    registration.refresh_from_db()
    assert registration.status == Status.CLIENT_CREATED
    assert len(sent) == 1
    assert sent[0]["registration"].pk == registration.pk
    # again: a no-op, no request, no signal
    with caught(signals.client_created) as again, mocked_nxcloud() as rsps:
        services.create_client(registration)
        assert not rsps.calls
    assert not again


def test_create_client_errors_are_raised_and_leave_it_verified() -> None:
    registration = verified()
    with mocked_nxcloud() as rsps:
        answer(rsps, "createClient", 9001)
        with pytest.raises(NXCloudBusinessError):
            services.create_client(registration)
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED
    with mocked_nxcloud() as rsps:
        fail_with(rsps, "createClient", requests.ReadTimeout("slow"))
        with pytest.raises(TransportError):
            services.create_client(registration)
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED


# -- phoneList -------------------------------------------------------------------------------------


def number(phone_display: str, register_status: int, **extra: Any) -> dict[str, Any]:
    return {
        "display_phone_number": phone_display,
        "register_status": register_status,
        "status": "CONNECTED",
        "quality_rating": "GREEN",
        "verified_name": "Acme Trading",
        "waba_id": "1029384756",
        "waba_name": "Acme WABA",
        **extra,
    }


def test_refresh_status_registered_at_5() -> None:
    registration = verified()
    with caught(signals.registration_completed) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[number("+1 415 555 0100", 3), number("+86 138 0013 8000", 5)])
        services.refresh_status(registration)
        assert len(rsps.calls) == 1
        assert body_of(rsps.calls[0]) == {"appkey": "test-app-key"}
    registration.refresh_from_db()
    assert registration.status == Status.REGISTERED
    assert registration.register_status == 5
    assert registration.registered_at is not None
    assert (registration.number_status, registration.quality_rating) == ("CONNECTED", "GREEN")
    assert (registration.verified_name, registration.waba_id, registration.waba_name) == (
        "Acme Trading",
        "1029384756",
        "Acme WABA",
    )
    assert registration.last_synced_at is not None
    assert len(sent) == 1
    # listed again: no second signal, registered_at unchanged
    first_registered_at = registration.registered_at
    with caught(signals.registration_completed) as again, mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[number("+86 138 0013 8000", 5)])
        services.refresh_status(registration, appkey="another-app")
        assert body_of(rsps.calls[0]) == {"appkey": "another-app"}
    registration.refresh_from_db()
    assert registration.registered_at == first_registered_at
    assert not again


@pytest.mark.parametrize(
    ("start", "register_status", "expected"),
    [
        ("verified", 1, "failed"),
        ("verified", 2, "failed"),
        ("client_created", 1, "failed"),
        ("client_created", 2, "failed"),
        ("verified", 3, "client_created"),
        ("verified", 4, "client_created"),
        ("client_created", 3, "client_created"),
        ("client_created", 5, "registered"),
        ("code_sent", 1, "code_sent"),  # not verified yet: a stale listing does not close it
    ],
)
def test_refresh_status_moves_the_status(start: str, register_status: int, expected: str) -> None:
    registration = with_code()
    PhoneRegistration.objects.filter(pk=registration.pk).update(status=start)
    registration.refresh_from_db()
    with caught(signals.registration_completed) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[number("+86 138 0013 8000", register_status)])
        services.refresh_status(registration)
    registration.refresh_from_db()
    assert registration.status == expected
    # An unverified registration takes nothing from phoneList (not even its register_status).
    assert registration.register_status == (register_status if start != "code_sent" else None)
    assert len(sent) == (1 if expected == "registered" else 0)


def test_refresh_status_of_an_unlisted_number_changes_nothing() -> None:
    registration = verified()
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[number("+86 139 0013 9000", 5)])
        services.refresh_status(registration)
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED
    assert registration.last_synced_at is None


@pytest.mark.parametrize("bad", [True, "5", 0, 6, None])
def test_a_register_status_that_is_not_1_to_5_is_ignored(bad: Any) -> None:
    registration = verified()
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[number("+86 138 0013 8000", bad)])
        services.refresh_status(registration)
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED
    assert registration.register_status is None
    assert registration.last_synced_at is not None


def test_refresh_status_does_not_overwrite_a_change_made_meanwhile() -> None:
    registration = verified()
    stale = PhoneRegistration.objects.get(pk=registration.pk)
    services.refresh_status  # noqa: B018
    PhoneRegistration.objects.filter(pk=registration.pk).update(status=Status.CLIENT_CREATED)
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[number("+86 138 0013 8000", 4)])
        services.refresh_status(stale)  # read as 'verified', now 'client_created'
    registration.refresh_from_db()
    assert registration.status == Status.CLIENT_CREATED
    assert registration.register_status == 4


def test_a_failed_registration_cannot_come_back_while_another_is_open() -> None:
    old = verified()
    PhoneRegistration.objects.filter(pk=old.pk).update(status=Status.FAILED)
    new_registration(PHONE)
    old.refresh_from_db()
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[number("+86 138 0013 8000", 5)])
        services.refresh_status(old)
    old.refresh_from_db()
    assert old.status == Status.FAILED
    assert old.register_status == 5


def test_sync_statuses() -> None:
    registered = verified(PHONE)
    client_created = verified(OTHER_PHONE)
    failing = verified(THIRD_PHONE)
    data = [
        number("+86 138 0013 8000", 5),
        number("+86 139 0013 9000", 3),
        number("+86 150 1234 5678", 2),
        number("+1 415 555 0100", 5),  # not one of ours
    ]
    progress: list[tuple[int, int]] = []
    with caught(signals.registration_completed) as sent, mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=data)
        summary = services.sync_statuses(progress=lambda done, total: progress.append((done, total)))
        assert len(rsps.calls) == 1
    assert summary.listed == 4
    assert summary.matched == 3
    assert sorted(summary.changed) == sorted(
        [
            (PHONE, "verified", "registered"),
            (OTHER_PHONE, "verified", "client_created"),
            (THIRD_PHONE, "verified", "failed"),
        ]
    )
    assert summary.unmatched == ["14155550100"]
    assert progress[-1] == (4, 4)
    for registration, status in (
        (registered, "registered"),
        (client_created, "client_created"),
        (failing, "failed"),
    ):
        registration.refresh_from_db()
        assert registration.status == status
    assert [s["registration"].pk for s in sent] == [registered.pk]


def test_sync_statuses_needs_an_app_key() -> None:
    with (
        rules(APP_KEY=""),
        mocked_nxcloud() as rsps,
        pytest.raises(NXCloudConfigurationError, match="APP_KEY"),
    ):
        services.sync_statuses()
    assert not rsps.calls


def test_sync_statuses_with_no_numbers() -> None:
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=None)
        summary = services.sync_statuses("k")
    assert (summary.listed, summary.matched, summary.changed, summary.unmatched) == (0, 0, [], [])


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
    #                             attempts, attempts from this IP in the last hour and the oldest
    #  4. SELECT holds            the failure budgets spent and the breaker (services.breaker)
    #  5. RELEASE SAVEPOINT       the pending row is committed before the call
    #     -- the checkCode call: no transaction open --
    #  6. UPDATE attempt          finish it: accepted, result, HTTP status, duration, finished_at
    #  7. UPDATE registration     verified, verified_at (6 and 7 in one transaction)
    assert len(sql) == 7, "\n".join(sql)
    assert len(sql) <= 8  # the budget
    assert sql[0].startswith("SAVEPOINT")
    assert sql[1].startswith('INSERT INTO "nxwa_onboarding_verificationattempt"')
    assert sql[2].startswith("SELECT")
    assert 'FROM "nxwa_onboarding_phoneregistration"' in sql[2]
    assert sql[2].count("COUNT(") == 3
    assert 'FROM "nxwa_onboarding_callhold"' in sql[3]
    assert sql[4].startswith("RELEASE SAVEPOINT")
    assert sql[5].startswith('UPDATE "nxwa_onboarding_verificationattempt"')
    assert sql[6].startswith('UPDATE "nxwa_onboarding_phoneregistration"')


@pytest.mark.django_db(transaction=True)
def test_check_code_accepted_path_query_count_in_autocommit() -> None:
    """As in production, with no test transaction around it: within 9, transaction control
    statements included (the holds' SELECT is the ninth: failed calls count)."""
    registration = with_code()
    with mocked_nxcloud() as rsps, CaptureQueriesContext(connection) as queries:
        answer(rsps, "checkCode")
        attempt = services.check_code(registration, CODE, ip="203.0.113.7")
    assert attempt.outcome == "accepted"
    sql = [q["sql"].split()[0] for q in queries.captured_queries]
    # The same seven statements, each transaction's BEGIN and COMMIT logged too (both backends).
    assert sql == ["BEGIN", "INSERT", "SELECT", "SELECT", "COMMIT", "BEGIN", "UPDATE", "UPDATE", "COMMIT"]
    assert len(sql) <= 9


def test_a_call_inside_an_outer_transaction_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    registration = with_code()
    with caplog.at_level(logging.WARNING), transaction.atomic():
        check(registration, CODE)
    assert any("inside a database transaction" in r.getMessage() for r in caplog.records)


def test_no_warning_in_the_ordinary_case(caplog: pytest.LogCaptureFixture) -> None:
    registration = with_code()
    with caplog.at_level(logging.WARNING):
        check(registration, CODE)
    assert not any("inside a database transaction" in r.getMessage() for r in caplog.records)


def test_create_client_is_claimed_before_the_call_and_never_doubled() -> None:
    """createClient is not idempotent: the claim is committed before the call, a second caller
    is refused while the first call's outcome is unknown, and a retry is allowed once any call
    still under way must have ended."""
    registration = verified()
    with mocked_nxcloud() as rsps:
        fail_with(rsps, "createClient", requests.ReadTimeout("slow"))
        with pytest.raises(TransportError):
            services.create_client(registration)
    registration.refresh_from_db()
    assert registration.status == Status.VERIFIED
    assert registration.client_requested_at is not None  # the evidence stays
    with mocked_nxcloud() as rsps, pytest.raises(InvalidStateError, match="already being created"):
        services.create_client(registration)
    assert not rsps.calls
    with (
        time_machine.travel(timezone.now() + services.stale_after() + timedelta(seconds=1)),
        mocked_nxcloud() as rsps,
    ):
        # Any call under way has ended: phoneList settles it. Not listed: still unknown, and
        # never sent again automatically; only a person resends (the admin's action).
        answer(rsps, "phoneList", data=[number("+86 139 0013 9000", 5)])
        with pytest.raises(InvalidStateError, match="Staff can send it again"):
            services.create_client(registration)
        assert len(calls_to(rsps, "phoneList")) == 1
        assert calls_to(rsps, "createClient") == []
        answer(rsps, "createClient")
        assert services.create_client(registration, resend_unknown=True).status == Status.CLIENT_CREATED
        assert len(calls_to(rsps, "createClient")) == 1


def lost_create_client() -> PhoneRegistration:
    """A verified registration whose createClient got no answer, long enough ago."""
    registration = verified()
    with mocked_nxcloud() as rsps:
        fail_with(rsps, "createClient", requests.ReadTimeout("slow"))
        with pytest.raises(TransportError):
            services.create_client(registration)
    PhoneRegistration.objects.filter(pk=registration.pk).update(
        client_requested_at=timezone.now() - services.stale_after() - timedelta(seconds=1)
    )
    return registration


@pytest.mark.parametrize(("register_status", "expected"), [(3, "client_created"), (5, "registered")])
def test_a_lost_create_client_that_took_is_settled_from_phone_list_and_not_resent(
    register_status: int, expected: str
) -> None:
    registration = lost_create_client()
    with mocked_nxcloud() as rsps:
        answer(rsps, "phoneList", data=[number("+86 138 0013 8000", register_status)])
        assert services.create_client(registration).status == expected
        assert calls_to(rsps, "createClient") == []
    registration.refresh_from_db()
    assert registration.status == expected


def test_staff_may_send_a_lost_create_client_again_without_asking_phone_list() -> None:
    registration = lost_create_client()
    with mocked_nxcloud() as rsps:
        answer(rsps, "createClient")
        created = services.create_client(registration, resend_unknown=True)
        assert created.status == Status.CLIENT_CREATED
        assert calls_to(rsps, "phoneList") == []
        assert len(calls_to(rsps, "createClient")) == 1


@pytest.mark.parametrize("failure", [9001, never_connected()], ids=["refused by NXCloud", "never connected"])
def test_a_create_client_that_certainly_failed_can_be_retried_at_once(failure: Any) -> None:
    registration = verified()
    with mocked_nxcloud() as rsps:
        if isinstance(failure, int):
            answer(rsps, "createClient", failure)
        else:
            fail_with(rsps, "createClient", failure)
        with pytest.raises((NXCloudBusinessError, TransportError)):
            services.create_client(registration)
    registration.refresh_from_db()
    assert registration.client_requested_at is None
    with mocked_nxcloud() as rsps:
        answer(rsps, "createClient")
        assert services.create_client(registration).status == Status.CLIENT_CREATED
        assert len(calls_to(rsps, "createClient")) == 1
