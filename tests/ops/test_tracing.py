"""A span per NXCloud send, per follower step, per task: the stable HTTP conventions plus
NXCloud's result code, and nothing secret in any attribute, event, status or name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from nxwa_onboarding import services, tasks
from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.nxcloud.client import NXCloudClient
from nxwa_onboarding.nxcloud.exceptions import OnboardingError
from nxwa_onboarding.testing import FakeNXCloud, fake_nxcloud
from tests.helpers.tracing import span_exporter

SECRET = "CANARY-SECRET-trace-41d9"
APP_KEY = "CANARY-APPKEY-trace-77c2"
WRONG = "73916482"
RIGHT = "58204793"
NUMBER = "8613800138000"
ECHO = f"code {WRONG} is wrong (secret {SECRET}, appkey {APP_KEY})"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return span_exporter()


@pytest.fixture
def canary_nxcloud() -> Iterator[FakeNXCloud]:
    nxwa = {**settings.NXWA_ONBOARDING, "ACCESS_SECRET": SECRET, "APP_KEY": APP_KEY}
    with override_settings(NXWA_ONBOARDING=nxwa), fake_nxcloud() as fake:
        yield fake


#: What the SDK itself writes into a span: clock times and random ids. A short canary such as
#: "0013" turns up in them by chance (a timestamp's microseconds did on CI), never from the app.
SDK_VALUES = re.compile(
    r'"(start_time|end_time|timestamp|trace_id|span_id|parent_id|service\.instance\.id)": "[^"]*"'
)


def every_text(exporter: InMemorySpanExporter) -> str:
    """Each span whole: name, attributes, events, links, status and resource, less the SDK's own
    times and ids."""
    return "\n".join(SDK_VALUES.sub(r'"\1": ""', span.to_json()) for span in exporter.get_finished_spans())


@pytest.mark.django_db
def test_each_send_is_a_client_span_with_the_http_conventions(
    canary_nxcloud: FakeNXCloud, spans: InMemorySpanExporter
) -> None:
    registration = services.start_registration("+86 138 0013 8000")
    canary_nxcloud.fail("checkCode", 9001, message=ECHO)
    assert services.check_code(registration, WRONG).outcome == "rejected"
    found = [s for s in spans.get_finished_spans() if s.name.startswith("nxcloud ")]
    assert [s.name for s in found] == ["nxcloud getCode", "nxcloud checkCode"]
    get_code, check_code = found
    assert get_code.kind == SpanKind.CLIENT
    assert dict(get_code.attributes or {}) == {
        "http.request.method": "POST",
        "server.address": "api2.nxcloud.com",
        "server.port": 443,
        "nxcloud.action": "getCode",
        "http.response.status_code": 200,
        "nxcloud.result_code": 0,
    }
    assert get_code.status.status_code == StatusCode.UNSET
    assert (check_code.attributes or {})["nxcloud.result_code"] == 9001
    assert (check_code.attributes or {})["error.type"] == "nxcloud.result_code.9001"
    assert check_code.status.status_code == StatusCode.ERROR


@pytest.mark.django_db
def test_a_timeout_is_an_error_span_with_its_kind(
    canary_nxcloud: FakeNXCloud, spans: InMemorySpanExporter
) -> None:
    canary_nxcloud.fail("getCode", timeout=True)
    with pytest.raises(OnboardingError):
        NXCloudClient.from_settings().get_code(NUMBER)
    (sent,) = spans.get_finished_spans()
    assert (sent.attributes or {})["error.type"] == "read timeout: no answer in time"
    assert "http.response.status_code" not in (sent.attributes or {})
    assert sent.status.status_code == StatusCode.ERROR


@pytest.mark.django_db
def test_no_span_holds_the_code_sign_secret_or_app_key(
    canary_nxcloud: FakeNXCloud, spans: InMemorySpanExporter, django_capture_on_commit_callbacks: Any
) -> None:
    """The whole way to registered, with NXCloud echoing the code, secret and app key in its
    messages and failing on the way: every span's every field is searched."""
    fake = canary_nxcloud
    registration = services.start_registration("+86 138 0013 8000")
    fake.inbox[registration.phone_number][-1].code = RIGHT
    fake.fail("checkCode", 9001, message=ECHO)
    services.check_code(registration, WRONG)
    fake.fail("checkCode", 1003, message=f"sign mismatch: {SECRET}")
    services.check_code(registration, WRONG)
    fake.fail("checkCode", timeout=True)
    services.check_code(registration, WRONG)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.check_code(registration, RIGHT).outcome == "accepted"
        tasks.client_after_commit(registration)  # what the pages do on an accepted code
    for _ in range(3):
        tasks.follow_pass()
    assert PhoneRegistration.objects.get(pk=registration.pk).status == "registered"

    names = {span.name for span in spans.get_finished_spans()}
    assert {
        "nxcloud getCode",
        "nxcloud checkCode",
        "nxcloud createClient",
        "nxcloud phoneList",
        "nxwa_onboarding.set_up_client",
        "nxwa_onboarding.follow_pass",
        "nxwa_onboarding.follow.step",
    } <= names
    # The canaries really went out, so the search below could find them.
    signs = [call.headers["sign"] for call in fake.calls]
    assert WRONG in [call.payload.get("code") for call in fake.calls_to("checkCode")]
    assert APP_KEY in [call.payload.get("appkey") for call in fake.calls_to("phoneList")]
    text = every_text(spans)
    assert "nxcloud.result_code" in text
    for canary in (SECRET, APP_KEY, WRONG, RIGHT, NUMBER, "0013", *signs):
        assert canary not in text, f"{canary!r} found in a span"


def test_without_a_span_around_it_a_task_still_runs(spans: InMemorySpanExporter) -> None:
    """The decorator keeps the function's name (the Tasks framework finds tasks by it)."""
    assert tasks.set_up_client.func.__name__ == "set_up_client"
    assert tasks.follow_application.name == "follow_application"


@pytest.mark.django_db
def test_without_opentelemetry_the_calls_go_on(
    canary_nxcloud: FakeNXCloud, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nxwa_onboarding.ops import tracing

    monkeypatch.setattr(tracing, "trace", None)
    registration = services.start_registration("+86 138 0013 8000")
    assert registration.code_requests.get().outcome == "sent"
    assert spans.get_finished_spans() == ()
