"""Hardening, as an attacker would work: no caller acts as "nobody", polls never multiply
calls, failed calls count, squatting ends, hostile answers cost little.

Each test was seen failing on the code before its fix; the figures it asserts (calls made, log
lines, rows) are the ones the fix holds.
"""

from __future__ import annotations

import json
import logging
import math
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client, TestCase, override_settings
from django.utils import timezone

from nxwa_onboarding import services, signals, tasks, texts
from nxwa_onboarding.api import auth
from nxwa_onboarding.choices import Channel, RefusalReason
from nxwa_onboarding.compat import task_backends
from nxwa_onboarding.conf import conf
from nxwa_onboarding.models import PhoneRegistration, VerificationAttempt
from nxwa_onboarding.nxcloud import client as client_module
from nxwa_onboarding.nxcloud import transport
from nxwa_onboarding.services import breaker
from nxwa_onboarding.testing import FakeNXCloud
from nxwa_onboarding.texts import refusal_text
from tests.helpers.api_token_strings import TOKEN
from tests.helpers.pages import url
from tests.helpers.services import caught

DUMMY = {"default": {"BACKEND": f"{task_backends.__class__.__module__}.backends.dummy.DummyBackend"}}

PHONE = "+86 138 0013 8000"


# -- 1. a token class that returns anything but a user -----------------------------------------


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.helpers.api_token_strings")
def test_a_token_class_returning_the_token_makes_no_caller_nobody(
    nxcloud: FakeNXCloud, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "_told", set())
    staff_made = services.create_registration(PHONE)  # no owner: staff's, a command's
    client = Client(headers={"Authorization": f"Bearer {TOKEN}"})
    listed = client.get("/registrations/")
    seen = client.get(f"/registrations/{staff_made.public_id}/")
    created = [
        client.post(
            "/registrations/",
            json.dumps({"phone_number": f"+86 138 0013 80{n:02d}", "method": "sms"}),
            content_type="application/json",
        )
        for n in range(1, 10)
    ]
    assert listed.status_code == 401, listed.content[:300]
    assert seen.status_code == 401
    assert [response.status_code for response in created] == [401] * 9
    assert PhoneRegistration.objects.count() == 1  # nothing made without an owner
    assert nxcloud.calls == []
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1  # the host is told once, naming the setting
    assert "API_AUTHENTICATION" in errors[0].getMessage()
    assert TOKEN not in caplog.text


# -- 2. a status poll never multiplies client setups -------------------------------------------


@pytest.fixture
def queue(settings: Any) -> Iterator[Any]:
    """A backend that runs nothing by itself: what a worker would run is in ``.results``."""
    settings.TASKS = DUMMY
    backend: Any = task_backends["default"]
    backend.clear()
    yield backend
    backend.clear()


def work(queue: Any) -> None:
    """A worker: runs every set_up_client enqueued so far."""
    for result in [r for r in queue.results if r.task.name == "set_up_client"]:
        queue.results.remove(result)
        with TestCase.captureOnCommitCallbacks(execute=True):
            result.task.call(*result.args, **result.kwargs)


@pytest.mark.django_db
def test_polls_never_multiply_client_setups_that_fail_on_our_configuration(
    client: Client, customer: Any, nxcloud: FakeNXCloud, queue: Any
) -> None:
    client.force_login(customer)
    start = timezone.now()
    registration = services.create_registration(PHONE, owner=customer)
    PhoneRegistration.objects.filter(pk=registration.pk).update(
        status=PhoneRegistration.Status.VERIFIED, verified_at=start - timedelta(hours=1)
    )
    nxcloud.mark_verified(registration.phone_number)
    nxcloud.fail("createClient", 1003, times=10_000)  # our credentials: every setup fails
    polls, every = 350, 2.5  # the documented interval, respected
    for n in range(polls):
        with time_machine.travel(start + timedelta(seconds=every * n), tick=False):
            with TestCase.captureOnCommitCallbacks(execute=True):
                assert client.post(url("refresh", registration)).status_code == 302
            work(queue)
    made = len(nxcloud.calls_to("createClient"))
    window = services.stale_after().total_seconds()
    assert made <= math.ceil(polls * every / window) + 1, made


@pytest.mark.django_db
def test_polls_faster_than_the_documented_interval_do_the_work_once(
    client: Client, customer: Any, nxcloud: FakeNXCloud, queue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.force_login(customer)
    registration = services.create_registration(PHONE, owner=customer)
    PhoneRegistration.objects.filter(pk=registration.pk).update(
        status=PhoneRegistration.Status.CLIENT_CREATED, verified_at=timezone.now()
    )
    nudged: list[str] = []
    monkeypatch.setattr(tasks, "nudge", lambda app_key, first_step_at=None: nudged.append(app_key))
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        for _poll in range(50):
            assert client.post(url("refresh", registration)).status_code == 302
    assert len(nudged) == 1
    with time_machine.travel(now + timedelta(seconds=2.1), tick=False):
        client.post(url("refresh", registration))
    assert len(nudged) == 2


# -- 3. failed calls count ---------------------------------------------------------------------


def code_out(nxcloud: FakeNXCloud, phone: str, owner: Any, ip: str = "203.0.113.9") -> PhoneRegistration:
    registration = services.create_registration(phone, owner=owner, channel=Channel.CUSTOMER)
    services.request_code(registration, channel=Channel.CUSTOMER, ip=ip)
    return registration


@pytest.mark.django_db
def test_failed_checks_count_against_the_budget_and_log_once(
    nxcloud: FakeNXCloud, customer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    registration = code_out(nxcloud, PHONE, customer)
    nxcloud.fail("checkCode", 1003, times=1000)  # our signature: every check fails, not theirs
    caplog.set_level(logging.INFO)
    outcomes = Counter(
        services.check_code(registration, "123456", channel=Channel.CUSTOMER, ip="203.0.113.9").outcome
        for _try in range(100)
    )
    made = len(nxcloud.calls_to("checkCode"))
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert made == conf.MAX_FAILED_CALLS_PER_HOUR, made
    assert outcomes["refused"] == 100 - made
    assert len(errors) == 1, [record.getMessage() for record in errors]
    assert "checkCode 1003" in errors[0].getMessage()
    refused = VerificationAttempt.objects.filter(outcome="refused").first()
    assert refused is not None
    assert refused.refusal_reason == RefusalReason.FAILURE_LIMIT
    assert refused.retry_after is not None


@pytest.mark.django_db
def test_the_breaker_stops_every_call_tells_staff_once_and_lifts(
    nxcloud: FakeNXCloud, caplog: pytest.LogCaptureFixture, django_user_model: Any
) -> None:
    owners = [django_user_model.objects.create_user(f"merchant{n}") for n in range(30)]
    registrations = [
        code_out(nxcloud, f"+86 138 0013 80{n:02d}", owner, ip=f"198.51.100.{n}")
        for n, owner in enumerate(owners)
    ]
    nxcloud.fail("checkCode", 1003, times=1000)
    with caught(signals.calls_paused) as paused:
        for n, registration in enumerate(registrations):  # each customer tries once, from anywhere
            services.check_code(registration, "123456", channel=Channel.CUSTOMER, ip=f"198.51.100.{n}")
    made = len(nxcloud.calls_to("checkCode"))
    assert made == conf.BREAKER_FAILURES
    assert len(paused) == 1
    assert paused[0]["failures"] == conf.BREAKER_FAILURES
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 2, errors  # the first failure, and the trip with its count
    assert f"{conf.BREAKER_FAILURES} configuration failures" in errors[1]
    last = VerificationAttempt.objects.filter(outcome="refused").last()
    assert last is not None
    assert last.refusal_reason == RefusalReason.PAUSED
    assert "paused" in refusal_text(RefusalReason.PAUSED)
    # Staff see it once they look, and close it.
    staff = django_user_model.objects.create_superuser("boss", password="pw")
    client = Client()
    client.force_login(staff)
    page = client.get("/admin/nxwa_onboarding/phoneregistration/").content.decode()
    assert "Calls to NXCloud are paused" in page
    assert client.post("/admin/nxwa_onboarding/phoneregistration/resume-calls/").status_code == 302
    assert breaker.paused() is None
    nxcloud.failures.clear()
    attempt = services.check_code(registrations[-1], "123456", channel=Channel.CUSTOMER, ip="192.0.2.1")
    assert attempt.outcome == "rejected"  # a call was made again
    # A new trip lifts by itself once its window is over.
    nxcloud.fail("checkCode", 1003, times=1000)
    for n, registration in enumerate(registrations[:25]):
        services.check_code(registration, "123456", channel=Channel.CUSTOMER, ip=f"192.0.2.{n + 2}")
    assert breaker.paused() is not None
    later = timezone.now() + timedelta(seconds=conf.BREAKER_WINDOW + 1)
    with time_machine.travel(later, tick=False):
        assert breaker.paused() is None


# -- 5. a hostile phoneList costs little --------------------------------------------------------


def junk_list(items: int) -> str:
    """A phoneList answer of ``items`` empty objects, then one real number."""
    real = '{"display_phone_number": "+86 138 0013 8000", "register_status": 5, "status": "CONNECTED"}'
    return '{"code": 0, "message": "ok", "data": [' + "{}," * items + real + "]}"


@pytest.mark.django_db
def test_a_hostile_phone_list_is_read_incrementally_and_logged_once(
    nxcloud: FakeNXCloud, caplog: pytest.LogCaptureFixture
) -> None:
    registration = services.create_registration(PHONE)
    PhoneRegistration.objects.filter(pk=registration.pk).update(
        status=PhoneRegistration.Status.CLIENT_CREATED, verified_at=timezone.now()
    )
    registration.refresh_from_db()
    body = junk_list(2_000_000)  # 6 MB of {}
    nxcloud.fail("phoneList", body=body)
    caplog.set_level(logging.INFO)
    tracemalloc.start()
    try:
        services.refresh_status(registration, appkey="test-app-key")
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    lines = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(lines) <= 1, len(lines)
    assert peak < 3 * len(body), peak  # the body and its copy, never millions of objects
    assert any("skipped" in record.getMessage() for record in lines)
    # More items than MAX_LIST_ITEMS: the rest are left unread, counted in the same one line.
    caplog.clear()
    with override_settings(NXWA_ONBOARDING={**settings.NXWA_ONBOARDING, "MAX_LIST_ITEMS": 3}):
        nxcloud.fail(
            "phoneList", body='{"code": 0, "data": [' + ",".join(['{"display_phone_number": "1"}'] * 5) + "]}"
        )
        services.refresh_status(registration, appkey="test-app-key")
    messages = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(messages) == 1
    assert "2 beyond MAX_LIST_ITEMS" in messages[0]


def test_the_list_caps_are_settings_with_a_lower_default() -> None:
    assert conf.MAX_LIST_BYTES == 32 * 1024 * 1024  # was 256 MB
    with override_settings(NXWA_ONBOARDING={**settings.NXWA_ONBOARDING, "MAX_LIST_BYTES": 1000}):
        assert client_module.answer_limit("phoneList") == 1000
        assert client_module.answer_limit("getPhone") == 1000
        assert client_module.answer_limit("getCode") == client_module.MAX_ANSWER_BYTES


def test_the_followers_lease_outlives_the_longest_read() -> None:
    connect, _read = conf.TIMEOUT
    longest = 3 * connect + 2 * (connect + transport.answer_deadline(conf.TIMEOUT))
    assert services.stale_after().total_seconds() > longest


# -- 4. squatting ends ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_owner_of_an_expired_hold_may_not_renew_it(
    nxcloud: FakeNXCloud, customer: Any, other_customer: Any
) -> None:
    start = timezone.now()
    squat = code_out(nxcloud, PHONE, other_customer)
    later = start + timedelta(seconds=conf.UNVERIFIED_EXPIRY + 60)
    with time_machine.travel(later, tick=False):
        with pytest.raises(ValidationError) as refused:
            services.create_registration(PHONE, owner=other_customer, channel=Channel.CUSTOMER)
        assert refused.value.code == "renewal"
        squat.refresh_from_db()
        assert squat.status == PhoneRegistration.Status.CODE_SENT  # theirs, not renewed
        mine = services.create_registration(PHONE, owner=customer, channel=Channel.CUSTOMER)
    squat.refresh_from_db()
    assert squat.status == PhoneRegistration.Status.CLOSED
    assert mine.took_over  # the doors tell the merchant what happened
    assert "never verified" in texts.taken_over_text()


@pytest.mark.django_db
def test_a_hold_whose_code_was_never_sent_holds_nothing(
    nxcloud: FakeNXCloud, customer: Any, other_customer: Any
) -> None:
    start = timezone.now()
    squat = services.create_registration(PHONE, owner=other_customer, channel=Channel.CUSTOMER)
    nxcloud.fail("getCode", 1003)  # no code went out (our failure, or a refusal)
    services.request_code(squat, channel=Channel.CUSTOMER, ip="203.0.113.5")
    with time_machine.travel(start + services.stale_after() + timedelta(seconds=1), tick=False):
        mine = services.create_registration(PHONE, owner=customer, channel=Channel.CUSTOMER)
        row = services.request_code(mine, channel=Channel.CUSTOMER, ip="198.51.100.7")
    assert row.outcome == "sent"  # the merchant gets a code
    squat.refresh_from_db()
    assert squat.status == PhoneRegistration.Status.CLOSED
    assert mine.took_over


# -- 8. the API never answers 500 to a malformed body or path -----------------------------------


@pytest.mark.django_db
def test_api_bodies_and_paths_that_cannot_be_read_are_problems_not_500s(customer: Any) -> None:
    client = Client()
    client.force_login(customer)
    root = "/onboarding/api"
    big = client.post(
        f"{root}/registrations/",
        "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
        content_type="application/json",
    )
    no_boundary = client.post(f"{root}/registrations/", b"--x--", content_type="multipart/form-data")
    # Both spellings of a path are found (the document's has no trailing slash, the older one
    # had it): an empty body is the same 422 either way; a path that is not there is a 404
    # problem. Never a 500, never an APPEND_SLASH redirect turning the POST into a GET.
    no_slash = client.post(f"{root}/registrations", "{}", content_type="application/json")
    slash = client.post(f"{root}/registrations/", "{}", content_type="application/json")
    nowhere = client.post(f"{root}/registrations/not/a/path", "{}", content_type="application/json")
    assert big.status_code == 413, big.content[:300]
    assert big["Content-Type"].startswith("application/problem+json")
    assert no_boundary.status_code in (400, 415), no_boundary.content[:300]
    assert no_boundary["Content-Type"].startswith("application/problem+json")
    assert no_slash.status_code == slash.status_code == 422, (no_slash.status_code, slash.status_code)
    assert nowhere.status_code == 404, nowhere.status_code
    for answer in (no_slash, slash, nowhere):
        assert answer["Content-Type"].startswith("application/problem+json")


# -- 10. a staff close racing an accepted check --------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("taken_again", [False, True])
def test_a_close_during_an_accepted_check_wins_and_nothing_is_left_pending(
    nxcloud: FakeNXCloud, customer: Any, staff: Any, monkeypatch: pytest.MonkeyPatch, taken_again: bool
) -> None:
    registration = code_out(nxcloud, PHONE, customer)
    code = nxcloud.latest_code(registration.phone_number)
    assert code is not None
    client = services.get_client()
    real_check = client.check_code

    def check_while_staff_close(phone: str, typed: str) -> None:
        services.close_registration(
            PhoneRegistration.objects.get(pk=registration.pk), user=staff, reason="abuse"
        )
        if taken_again:
            services.create_registration(PHONE)
        real_check(phone, typed)

    monkeypatch.setattr(client, "check_code", check_while_staff_close)
    attempt = services.check_code(registration, code, channel=Channel.CUSTOMER, ip="203.0.113.9")
    registration.refresh_from_db()
    assert attempt.outcome == "accepted"  # NXCloud's answer, recorded as it was
    assert registration.status == PhoneRegistration.Status.CLOSED
    assert registration.verified_at is None
    assert not VerificationAttempt.objects.filter(outcome="pending").exists()


# -- 6. keys never travel in task arguments or log lines ----------------------------------------


@pytest.mark.django_db
def test_no_app_key_in_task_arguments_or_warnings(
    nxcloud: FakeNXCloud, queue: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key = conf.APP_KEY
    registration = services.create_registration(PHONE)
    PhoneRegistration.objects.filter(pk=registration.pk).update(
        status=PhoneRegistration.Status.CLIENT_CREATED, verified_at=timezone.now()
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        tasks.nudge(key)
    [chain] = [result for result in queue.results if result.task.name == "follow_application"]
    assert key not in repr(chain.args) + repr(chain.kwargs)
    nxcloud.fail("phoneList", 1003)
    with TestCase.captureOnCommitCallbacks(execute=True):
        outcome = chain.task.call(*chain.args, **chain.kwargs)
    assert outcome["ran"] is True
    assert key not in caplog.text
    [again] = [result for result in queue.results if result.task.name == "follow_application"][1:]
    assert key not in repr(again.args)
