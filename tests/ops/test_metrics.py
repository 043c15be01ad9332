"""Metrics read from the database when scraped: right under many workers, refused to strangers,
a bounded number of queries whatever the data."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from nxwa_onboarding.choices import Channel, Failure, Method
from nxwa_onboarding.models import (
    Application,
    CodeRequest,
    FollowState,
    PhoneRegistration,
    VerificationAttempt,
    WebhookDelivery,
)
from nxwa_onboarding.ops.metrics import OnboardingCollector

TOKEN = "scrape-token-0123456789-abcdefghijklmnopqrstuvwxyz"
METRICS = "/nxwa/ops/metrics/"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def scrape(client: Client) -> str:
    response = client.get(METRICS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def registration(number: str, **fields: Any) -> PhoneRegistration:
    return PhoneRegistration.objects.create(phone_number=number, **fields)


def code_request(reg: PhoneRegistration, **fields: Any) -> CodeRequest:
    fields.setdefault("channel", Channel.CUSTOMER)
    fields.setdefault("method", Method.SMS)
    fields.setdefault("finished_at", timezone.now())
    return CodeRequest.objects.create(registration=reg, **fields)


@pytest.fixture(autouse=True)
def _token() -> Any:
    with override_settings(NXWA_ONBOARDING={"ACCESS_KEY": "k", "ACCESS_SECRET": "s", "OPS_TOKEN": TOKEN}):
        yield


@pytest.mark.django_db
def test_registrations_by_status_and_application() -> None:
    shop = Application.objects.create(name="Tea shop", app_key="tea-app-key", outcome="created")
    registration("8613800138000", status="registered", application=shop)
    registration("8613800138001", status="registered", application=shop)
    registration("8613800138002", status="code_sent")
    text = scrape(Client())
    assert value(text, "nxwa_registrations", status="registered", application="Tea shop") == 2
    assert value(text, "nxwa_registrations", status="new", application="Tea shop") == 0
    default = Application.objects.default().name
    assert value(text, "nxwa_registrations", status="code_sent", application=default) == 1
    assert "tea-app-key" not in text  # an app key is a credential, never a label


@pytest.mark.django_db
def test_conversion_by_region() -> None:
    """Where numbers come from and how many get through, by the region stored when each started
    (the funnel page's breakdown, for an alert on a country that stops converting)."""
    now = timezone.now()
    registration("447700900001", region="GB", status="code_sent")
    registration("447700900002", region="GB", status="verified", verified_at=now)
    registration("447700900003", region="GB", status="registered", verified_at=now)
    registration("8613800138000", region="CN", status="closed")
    registration("8613800138001", region="", status="new")
    text = scrape(Client())
    assert value(text, "nxwa_registrations_by_region", region="GB", stage="started") == 3
    assert value(text, "nxwa_registrations_by_region", region="GB", stage="verified") == 2
    assert value(text, "nxwa_registrations_by_region", region="GB", stage="registered") == 1
    assert value(text, "nxwa_registrations_by_region", region="CN", stage="started") == 1
    assert value(text, "nxwa_registrations_by_region", region="CN", stage="verified") == 0
    assert value(text, "nxwa_registrations_by_region", region="unknown", stage="started") == 1


@pytest.mark.django_db
def test_calls_outcomes_latency_budget_and_attention() -> None:
    reg = registration("8613800138000", status="code_sent")
    now = timezone.now()
    code_request(reg, outcome="sent", duration_ms=250, result_code=0)
    code_request(reg, outcome="failed", failure=Failure.UNREACHABLE, duration_ms=3050)
    code_request(reg, outcome="refused", refusal_reason="cooldown")
    old = code_request(reg, outcome="sent", duration_ms=100)
    CodeRequest.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=3))
    VerificationAttempt.objects.create(
        registration=reg, channel=Channel.CUSTOMER, outcome="rejected", duration_ms=400, finished_at=now
    )
    stuck = registration("8613800138009", status="verified", stuck_at=now, verified_at=now)
    assert stuck.pk
    with override_settings(
        NXWA_ONBOARDING={
            "ACCESS_KEY": "k",
            "ACCESS_SECRET": "s",
            "OPS_TOKEN": TOKEN,
            "MAX_SENDS_PER_DAY_GLOBAL": 10,
        }
    ):
        text = scrape(Client())
    assert value(text, "nxwa_code_requests", window="1h", outcome="sent", failure="") == 1
    assert value(text, "nxwa_code_requests", window="24h", outcome="sent", failure="") == 2
    assert value(text, "nxwa_code_requests", window="1h", outcome="failed", failure="unreachable") == 1
    assert value(text, "nxwa_code_requests", window="1h", outcome="refused", failure="") == 1
    assert value(text, "nxwa_verification_attempts", window="1h", outcome="rejected", failure="") == 1
    # Refusals made no call; the call rows' durations are summed and the longest kept.
    assert value(text, "nxwa_nxcloud_calls", window="1h", action="getCode", outcome="sent") == 1
    assert value(text, "nxwa_nxcloud_calls", window="1h", action="getCode", outcome="refused") is None
    assert value(text, "nxwa_nxcloud_call_seconds", window="1h", action="getCode", stat="sum") == 3.3
    assert value(text, "nxwa_nxcloud_call_seconds", window="24h", action="getCode", stat="max") == 3.05
    assert value(text, "nxwa_nxcloud_call_seconds", window="1h", action="checkCode", stat="max") == 0.4
    # The two sends count against the daily budget (as sends_suspended() counts them); the
    # failure that never reached NXCloud and the refusal do not.
    assert value(text, "nxwa_send_budget_remaining") == 10 - 2
    assert value(text, "nxwa_registrations_needing_attention", reason="stuck") == 1


@pytest.mark.django_db
def test_follower_and_webhooks() -> None:
    shop = Application.objects.create(name="Tea shop", app_key="tea-app-key", outcome="created")
    FollowState.objects.create(app_key="tea-app-key", last_step_at=timezone.now(), steps=7, last_error="x")
    WebhookDelivery.objects.create(application=shop, outcome="applied", dedupe_key="a")
    WebhookDelivery.objects.create(application=shop, outcome="unmatched", dedupe_key="b")
    text = scrape(Client())
    assert value(text, "nxwa_follow_steps_total", application="Tea shop") == 7
    assert value(text, "nxwa_follow_last_step_failed", application="Tea shop") == 1
    assert value(text, "nxwa_follow_last_step_timestamp_seconds", application="Tea shop")
    assert value(text, "nxwa_webhook_deliveries", window="1h", outcome="applied") == 1
    assert value(text, "nxwa_webhook_deliveries", window="24h", outcome="unmatched") == 1
    assert "tea-app-key" not in text


def change_status_in_another_process(pk: int, status: str) -> None:
    """What another worker or server does: an UPDATE committed by another OS process, on its own
    connection through the bare driver (no Django, nothing shared with this process)."""
    database = connection.settings_dict
    table = PhoneRegistration._meta.db_table
    if connection.vendor == "sqlite":
        driver, target, mark = "sqlite3", str(database["NAME"]), "?"
    else:
        driver, mark = "psycopg", "%s"
        parts = {"host": database["HOST"], "port": database["PORT"], "user": database["USER"]}
        parts |= {"password": database["PASSWORD"], "dbname": database["NAME"]}
        target = " ".join(f"{key}={value}" for key, value in parts.items() if value)
    statement = f'UPDATE "{table}" SET "status" = {mark} WHERE "id" = {mark}'  # noqa: S608 (our table)
    code = (
        f"import sys, {driver} as d; c = d.connect(sys.argv[1]); "
        "c.execute(sys.argv[2], (sys.argv[3], int(sys.argv[4]))); c.commit(); c.close()"
    )
    subprocess.run([sys.executable, "-c", code, target, statement, status, str(pk)], check=True, timeout=60)


@pytest.mark.django_db(transaction=True)
def test_metrics_follow_a_change_made_by_another_process() -> None:
    """Nothing is counted in this process: a row changed elsewhere (another worker, another
    server: here another process) shows in the next scrape."""
    reg = registration("8613800138000", status="client_created")
    client = Client()
    default = Application.objects.default().name
    assert value(scrape(client), "nxwa_registrations", status="registered", application=default) == 0
    change_status_in_another_process(reg.pk, "registered")
    text = scrape(client)
    assert value(text, "nxwa_registrations", status="registered", application=default) == 1
    assert value(text, "nxwa_registrations", status="client_created", application=default) == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header", ["", "Bearer ", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"]
)
def test_anonymous_and_wrong_tokens_get_nothing(header: str) -> None:
    registration("8613800138000")
    for path in (METRICS, "/nxwa/ops/health/"):
        response = Client().get(path, headers={"Authorization": header} if header else {})
        assert response.status_code == 401
        assert b"nxwa_" not in response.content
        assert b"database" not in response.content


@pytest.mark.django_db
def test_no_token_configured_lets_no_bearer_in() -> None:
    with override_settings(NXWA_ONBOARDING={"ACCESS_KEY": "k", "ACCESS_SECRET": "s"}):
        response = Client().get(METRICS, HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 401


@pytest.mark.django_db
def test_signed_in_customers_are_refused_and_staff_let_in(customer: Any, staff: Any) -> None:
    client = Client()
    client.force_login(customer)
    assert client.get(METRICS).status_code == 403
    client.force_login(staff)
    response = client.get(METRICS)
    assert response.status_code == 200
    assert b"nxwa_registrations" in response.content


@pytest.mark.django_db
def test_only_get() -> None:
    assert Client().post(METRICS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


@pytest.mark.django_db
def test_query_count_does_not_grow_with_the_data(django_assert_max_num_queries: Any) -> None:
    Client().get(METRICS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")  # the default application, made once
    for i in range(5):
        app = Application.objects.create(name=f"App {i}", app_key=f"key-{i}", outcome="created")
        FollowState.objects.create(app_key=f"key-{i}", steps=i)
        WebhookDelivery.objects.create(application=app, outcome="applied", dedupe_key=str(i))
        for j in range(4):
            reg = registration(f"86138001{i:02d}{j:03d}", status="code_sent", application=app)
            code_request(reg, outcome="sent", duration_ms=100)
            VerificationAttempt.objects.create(
                registration=reg, channel=Channel.CUSTOMER, outcome="accepted", duration_ms=10
            )
    with django_assert_max_num_queries(6):
        text = scrape(Client())
    assert value(text, "nxwa_registrations", status="code_sent", application="App 4") == 4


@pytest.mark.django_db
def test_a_host_registers_the_collector_in_its_own_registry() -> None:
    registration("8613800138000", status="verified")
    registry = CollectorRegistry()
    registry.register(OnboardingCollector())
    text = generate_latest(registry).decode()
    assert "nxwa_registrations{" in text


def test_the_collector_module_imports_without_django_set_up() -> None:
    """A host's own metrics module may import it before Django is set up: no model is loaded."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from nxwa_onboarding.ops.metrics import OnboardingCollector; OnboardingCollector()",
        ],
        check=True,
        env=env,
        timeout=60,
    )
