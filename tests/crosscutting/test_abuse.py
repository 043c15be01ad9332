"""Abuse: a mashed submit button, a bot guessing codes, one address across many numbers, and
arbitrary input into every form and into the response parser.

The concurrency tests need PostgreSQL (real row locks and concurrent transactions; SQLite
serialises writers, which would prove nothing): they are skipped, with that reason, on SQLite.
The server allows 100 connections and the suite may share it, so 200 submissions are made by
40 threads (five each), all released at once by a barrier; each thread has its own connection.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from harness.loopback import OK, LoopbackNXCloud, result
from nxwa_onboarding import services
from nxwa_onboarding.admin.forms import CheckCodeForm
from nxwa_onboarding.models import PhoneRegistration, VerificationAttempt
from nxwa_onboarding.nxcloud.exceptions import TransportError
from nxwa_onboarding.nxcloud.transport import parse_envelope
from nxwa_onboarding.pages.forms import CodeForm, SendCodeForm, StartForm
from nxwa_onboarding.phone import normalize_phone
from nxwa_onboarding.services.calls import REFUSALS_RECORDED
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.fuzz import examples

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="concurrency needs PostgreSQL: SQLite serialises every writer"
)

PHONE = "+86 138 0013 8000"
SUBMISSIONS = 200
THREADS = 40
MAX_TRIES = 5


@pytest.fixture
def stand_in() -> Iterator[LoopbackNXCloud]:
    # Every answer waits 30 ms: a wide window for concurrent submissions to collide in.
    with LoopbackNXCloud(hold=0.03) as server:
        nxwa = {**settings.NXWA_ONBOARDING, "BASE_URL": server.base_url, "TIMEOUT": (2.0, 5.0)}
        with override_settings(NXWA_ONBOARDING=nxwa):
            yield server


def assert_refusals_throttled(rows: Any) -> None:
    """A flood of refusals fills no table: of each reason, about REFUSALS_RECORDED a minute are
    recorded (the throttle is read outside the write-ahead lock, so up to one more per thread
    that raced it), the others answered the same way and logged."""
    refused = Counter(rows.filter(outcome="refused").values_list("refusal_reason", flat=True))
    assert refused, "the submissions were refused"
    assert all(count <= REFUSALS_RECORDED + THREADS for count in refused.values()), refused
    assert sum(refused.values()) < SUBMISSIONS


def hammer(submit: Callable[[int], str]) -> list[str]:
    """Run ``SUBMISSIONS`` calls of ``submit(n)`` on ``THREADS`` threads released together."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            for n in range(index, SUBMISSIONS, THREADS):
                outcome = submit(n)
                with lock:
                    outcomes.append(outcome)
        except BaseException as err:  # reported below, with the thread's traceback
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(outcomes) == SUBMISSIONS
    return outcomes


def signed_in_clients(user: Any) -> list[Client]:
    """One test client per thread, sharing one session (the same person in many tabs)."""
    first = Client(raise_request_exception=False)
    first.force_login(user)
    clients = []
    for _ in range(THREADS):
        client = Client(raise_request_exception=False)
        name = settings.SESSION_COOKIE_NAME
        client.cookies[name] = first.cookies[name].value
        clients.append(client)
    return clients


@needs_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_codes_make_at_most_max_calls(stand_in: LoopbackNXCloud, customer: Any) -> None:
    stand_in.default = result(9001, "Verification code is incorrect")
    stand_in.push(OK)  # the first code goes out
    registration = services.start_registration(PHONE, owner=customer)
    clients = signed_in_clients(customer)
    url = reverse("nxwa_onboarding:check", kwargs={"public_id": registration.public_id})

    def submit(n: int) -> str:
        response = clients[n % THREADS].post(url, {"code": f"{100000 + n}"})
        return str(response.status_code)

    statuses = hammer(submit)

    assert set(statuses) == {"302"}, "every submission is answered by a redirect, none by a 500"
    calls = stand_in.calls("checkCode")
    assert 1 <= len(calls) <= MAX_TRIES
    attempts = VerificationAttempt.objects.filter(registration=registration)
    assert attempts.filter(outcome="rejected").count() == len(calls), "every call has its row"
    assert_refusals_throttled(attempts)
    assert not attempts.filter(outcome="pending").exists()
    refused = set(attempts.filter(outcome="refused").values_list("refusal_reason", flat=True))
    assert refused <= {"in_flight", "too_many_attempts"}
    assert "in_flight" in refused, "the submissions really did collide"


@needs_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_right_codes_make_exactly_one_call(stand_in: LoopbackNXCloud, customer: Any) -> None:
    registration = services.start_registration(PHONE, owner=customer)
    pk = registration.pk

    def submit(n: int) -> str:
        mine = PhoneRegistration.objects.get(pk=pk)
        return services.check_code(mine, "123 456", ip=f"10.0.{n // 250}.{n % 250}").outcome

    outcomes = hammer(submit)

    assert len(stand_in.calls("checkCode")) == 1
    assert outcomes.count("accepted") == 1
    assert set(outcomes) == {"accepted", "refused"}
    reasons = set(
        VerificationAttempt.objects.filter(registration_id=pk, outcome="refused").values_list(
            "refusal_reason", flat=True
        )
    )
    assert reasons <= {"in_flight", "already_verified"}
    assert "in_flight" in reasons, "the submissions really did collide"
    assert VerificationAttempt.objects.filter(registration_id=pk, outcome="accepted").count() == 1
    assert_refusals_throttled(VerificationAttempt.objects.filter(registration_id=pk))
    assert PhoneRegistration.objects.get(pk=pk).status == PhoneRegistration.Status.VERIFIED


@pytest.mark.django_db
def test_an_address_over_its_hourly_limit_is_refused_across_registrations(
    nxcloud: FakeNXCloud, customer: Any, other_customer: Any
) -> None:
    """Three tries from one address on two numbers use up its hour; a third number is refused
    from that address without a call, and the same number from another address goes through."""
    limit = 3
    bot, neighbour = "203.0.113.7", "198.51.100.20"
    with override_settings(
        NXWA_ONBOARDING={**settings.NXWA_ONBOARDING, "MAX_ATTEMPTS_PER_IP_PER_HOUR": limit}
    ):
        first = services.start_registration("+86 138 0013 8000", owner=customer)
        second = services.start_registration("+86 139 0013 9000", owner=customer)
        third = services.start_registration("+86 150 1234 5678", owner=other_customer)
        client = Client(raise_request_exception=False)
        client.force_login(customer)
        for registration, code in ((first, "111111"), (first, "222222"), (second, "333333")):
            url = reverse("nxwa_onboarding:check", kwargs={"public_id": registration.public_id})
            assert client.post(url, {"code": code}, REMOTE_ADDR=bot).status_code == 302
        assert len(nxcloud.calls_to("checkCode")) == limit

        client.force_login(other_customer)
        url = reverse("nxwa_onboarding:check", kwargs={"public_id": third.public_id})
        right = nxcloud.latest_code(third.phone_number)
        assert right is not None
        response = client.post(url, {"code": right}, REMOTE_ADDR=bot, follow=True)
        assert response.status_code == 200
        assert "Too many attempts from your network." in response.content.decode()
        refused = VerificationAttempt.objects.get(registration=third)
        assert refused.outcome == "refused"
        assert refused.refusal_reason == "ip_limit"
        assert refused.retry_after is not None
        assert len(nxcloud.calls_to("checkCode")) == limit, "refused without a call"

        # The limit is the address's, not the number's: from elsewhere the right code works.
        assert client.post(url, {"code": right}, REMOTE_ADDR=neighbour).status_code == 302
        third.refresh_from_db()
        assert third.verified_at is not None


# -- hypothesis: every form and the response parser ---------------------------------------------

MANY = hypothesis_settings(
    max_examples=examples(2000), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

typed_text = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="0123456789 +-().\u00a0\u3000\uff10\uff11\u0660", max_size=40),
    st.from_regex(r"\+?[0-9 -]{4,20}", fullmatch=True),
    st.sampled_from(["+86 138 0013 8000", "0086-138-0013-8000", "123-456", "123 456", "", " ", "\x00"]),
)
method_text = st.one_of(st.sampled_from(["sms", "voice", "", "SMS", "fax"]), st.text(max_size=10))


#: What may stand between a code's digits: the ASCII hyphen, the Unicode hyphens and dashes, the
#: minus sign and the full-width hyphen.
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d"


def digits_of_code(text: str) -> str | None:
    """An oracle written apart from the app: at most 32 characters as typed (surrounding
    whitespace aside) that are 4-8 decimal digits in any script (ASCII, full-width, Arabic-Indic,
    ...) once whitespace, hyphens and dashes go; the code is their ASCII digits."""
    typed = text.strip()
    kept = [ch for ch in typed if not ch.isspace() and ch not in DASHES]
    digits = [unicodedata.digit(ch) for ch in kept if unicodedata.category(ch) == "Nd"]
    if len(typed) <= 32 and 4 <= len(kept) <= 8 and len(digits) == len(kept):
        return "".join(map(str, digits))
    return None


@MANY
@given(phone=typed_text, method=method_text)
def test_start_form_accepts_only_real_numbers(phone: str, method: str) -> None:
    form = StartForm(data={"phone_number": phone, "method": method})
    valid = form.is_valid()
    if valid:
        digits = form.cleaned_data["phone_number"]
        assert digits.isascii()
        assert digits.isdigit()
        assert digits == normalize_phone(phone)
        assert form.cleaned_data["method"] in ("sms", "voice")
    else:
        assert form.errors
        assert all(isinstance(message, str) for messages in form.errors.values() for message in messages)


@MANY
@given(code=typed_text)
def test_code_forms_accept_exactly_the_digits_of_a_code(code: str) -> None:
    expected = digits_of_code(code)
    for form_class in (CodeForm, CheckCodeForm):
        form = form_class(data={"code": code})
        assert form.is_valid() == (expected is not None), (form_class.__name__, code, form.errors)
        if expected is not None:
            assert form.cleaned_data["code"] == expected


@MANY
@given(method=method_text)
def test_send_form_accepts_only_sms_or_voice(method: str) -> None:
    form = SendCodeForm(data={"method": method})
    assert form.is_valid() == (method in ("sms", "voice"))


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
)
envelopes = st.fixed_dictionaries(
    {"code": json_values | st.integers(-2, 10_000)}, optional={"message": json_values, "data": json_values}
)


def as_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


response_bodies = st.one_of(
    st.binary(max_size=200),
    envelopes.map(as_bytes),
    json_values.map(as_bytes),
    envelopes.map(as_bytes).flatmap(lambda raw: st.integers(0, len(raw)).map(lambda cut: raw[:cut])),
    st.sampled_from([b"", b"null", b"[" * 5000, b'{"code": 0}', b'{"code": true}', b"\xff\xfe"]),
)


@MANY
@given(status=st.integers(100, 599), content=response_bodies)
def test_parse_envelope_answers_or_raises_transport_error(status: int, content: bytes) -> None:
    failure: TransportError | None = None
    try:
        code, message, _data = parse_envelope("checkCode", status, content)
    except TransportError as err:
        failure = err
    if failure is not None:
        assert failure.sent is True
        assert failure.action == "checkCode"
        return
    assert type(code) is int
    assert isinstance(message, str)
    assert status < 500
    if code == 0:
        assert status == 200, "success only with HTTP 200"


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(code=typed_text)
def test_admin_enter_code_page_never_fails(code: str, staff: Any, nxcloud: FakeNXCloud) -> None:
    """Full requests to the admin's enter-code view: a page or a redirect, never a 500, and
    never a call to NXCloud for input that is not a code."""
    registration = PhoneRegistration.objects.filter(phone_number="8613800138000").first()
    if registration is None:
        registration = services.start_registration(PHONE)
    before = len(nxcloud.calls_to("checkCode"))
    client = Client(raise_request_exception=False)
    client.force_login(staff)
    url = reverse("admin:nxwa_onboarding_phoneregistration_check_code", args=[registration.pk])
    response = client.post(url, {"code": code})
    assert response.status_code in (200, 302)
    if digits_of_code(code) is None:
        assert len(nxcloud.calls_to("checkCode")) == before
        assert response.status_code == 200
