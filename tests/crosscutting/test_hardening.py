"""Hardening, as an attacker would work: no caller acts as "nobody", polls never multiply
calls, failed calls count, squatting ends, hostile answers cost little.

Each test was seen failing on the code before its fix; the figures it asserts (calls made, log
lines, rows) are the ones the fix holds.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client, override_settings

from nxwa_onboarding import services
from nxwa_onboarding.api import auth
from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.api_token_strings import TOKEN

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
