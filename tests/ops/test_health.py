"""The health report: the database, the task queue, NXCloud's last answer to our credentials."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from nxwa_onboarding.choices import Channel, Failure, Method
from nxwa_onboarding.models import CodeRequest, PhoneRegistration

TOKEN = "health-token-0123456789-abcdefghijklmnopqrstuvwxyz"
SETTINGS = {"ACCESS_KEY": "k", "ACCESS_SECRET": "s", "OPS_TOKEN": TOKEN}


def health(**extra: Any) -> tuple[int, dict[str, Any]]:
    response = Client().get("/nxwa/ops/health/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


def sent(failure: str = "", result_code: int | None = 0) -> None:
    reg, _ = PhoneRegistration.objects.get_or_create(phone_number="8613800138000")
    CodeRequest.objects.create(
        registration=reg,
        channel=Channel.CUSTOMER,
        method=Method.SMS,
        outcome="sent" if not failure else "rejected",
        failure=failure,
        result_code=result_code,
        duration_ms=100,
        finished_at=timezone.now(),
    )


@pytest.mark.django_db
@override_settings(NXWA_ONBOARDING=SETTINGS)
def test_all_fine() -> None:
    sent()
    status, body = health()
    assert status == 200
    assert body["ok"] is True
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["tasks"] == {"ok": True, "backend": "ImmediateBackend", "runs_later": False}
    assert body["checks"]["nxcloud"]["last_result_code"] == 0


@pytest.mark.django_db
@override_settings(NXWA_ONBOARDING=SETTINGS)
def test_refused_credentials_fail_the_report_without_calling_nxcloud() -> None:
    sent(failure=Failure.CONFIGURATION, result_code=1001)
    status, body = health()
    assert status == 503
    assert body["checks"]["nxcloud"] == {
        "ok": False,
        "configured": True,
        "last_answer_at": body["checks"]["nxcloud"]["last_answer_at"],
        "last_failure": "configuration",
        "last_result_code": 1001,
    }
    sent()  # a later good answer: fine again
    assert health()[0] == 200


@pytest.mark.django_db
@override_settings(NXWA_ONBOARDING={"OPS_TOKEN": TOKEN}, SILENCED_SYSTEM_CHECKS=["nxwa_onboarding.E001"])
def test_missing_credentials_fail_the_report() -> None:
    status, body = health()
    assert status == 503
    assert body["checks"]["nxcloud"]["configured"] is False


@pytest.mark.django_db
@override_settings(
    NXWA_ONBOARDING=SETTINGS,
    TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}},
)
def test_a_database_queue_nobody_works_fails_the_report() -> None:
    from django_tasks_db.models import DBTaskResult

    from nxwa_onboarding import tasks

    status, body = health()
    assert status == 200, body
    assert body["checks"]["tasks"]["oldest_ready_seconds"] == 0
    tasks.set_up_client.using(backend="default").enqueue(1)
    DBTaskResult.objects.update(enqueued_at=timezone.now() - timedelta(minutes=6))
    status, body = health()
    assert status == 503
    assert body["checks"]["tasks"]["ok"] is False
    assert body["checks"]["tasks"]["oldest_ready_seconds"] > 300


@pytest.mark.parametrize(
    ("token", "check_id"),
    [(12345, "nxwa_onboarding.E120"), (["a"], "nxwa_onboarding.E120"), ("short", "nxwa_onboarding.W120")],
)
def test_the_token_setting_is_checked(token: Any, check_id: str) -> None:
    from nxwa_onboarding.checks import check_settings

    with override_settings(NXWA_ONBOARDING={**SETTINGS, "OPS_TOKEN": token}):
        ids = [message.id for message in check_settings()]
    assert check_id in ids
    with override_settings(NXWA_ONBOARDING=SETTINGS):
        assert not [i for i in (m.id for m in check_settings()) if i and i.endswith("120")]
