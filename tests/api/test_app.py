"""The API's published contract and its edges: the committed OpenAPI document is current and is
what ``openapi.json`` serves; no page loads anything from a CDN; ``API_AUTHENTICATION`` names a
token class that works without CSRF; a host without django-ninja imports the app without error;
an unexpected error is problem details whose report never shows the code."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.test import Client, override_settings
from django.views.debug import ExceptionReporter

from nxwa_onboarding import services
from nxwa_onboarding.api.app import document
from nxwa_onboarding.api.auth import SessionAuth, configured_auth
from nxwa_onboarding.api.urls import api
from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.api import DOCUMENT_PATH, ROOT, ApiClient, problem
from tests.helpers.api_tokens import TokenAuth

ROOT_DIR = Path(__file__).resolve().parents[2]


def test_the_committed_openapi_document_is_current() -> None:
    committed = json.loads(DOCUMENT_PATH.read_text())
    assert document(api) == committed, "the API changed: run `make openapi` and commit the document"


def test_openapi_json_is_served_under_the_apis_root_and_matches_the_copy() -> None:
    response = Client().get(ROOT + "/openapi.json")
    assert response.status_code == 200
    served = response.json()
    committed = json.loads(DOCUMENT_PATH.read_text())
    assert served["openapi"].startswith("3.1")
    # Where the API is mounted as the README says, the two are the same, servers included.
    assert served["servers"] == [{"url": ROOT, "description": "Where the API is mounted."}]
    assert served == committed


def test_there_is_no_docs_page_that_would_load_a_cdn() -> None:
    assert Client().get(ROOT + "/docs").status_code == 404
    assert "cdn" not in DOCUMENT_PATH.read_text().lower()


@pytest.mark.django_db
def test_api_authentication_names_the_class_the_api_is_built_with() -> None:
    assert isinstance(configured_auth(), SessionAuth)
    with override_settings(NXWA_ONBOARDING={"API_AUTHENTICATION": "tests.helpers.api_tokens.TokenAuth"}):
        assert isinstance(configured_auth(), TokenAuth)


@pytest.mark.django_db
def test_a_token_client_needs_no_session_and_no_csrf(customer: Any, nxcloud: FakeNXCloud) -> None:
    tokens = ApiClient(root="/token-api")
    problem(tokens.get("/registrations/"), 401, "unauthenticated")
    problem(tokens.get("/registrations/", headers={"Authorization": "Bearer wrong"}), 401, "unauthenticated")
    bearer = {"Authorization": "Bearer token-of-the-customer"}
    created = tokens.post(
        "/registrations/", {"phone_number": "+86 138 0013 8000"}, csrf=False, headers=bearer
    )
    assert created.status_code == 201, created.content
    assert PhoneRegistration.objects.get().owner == customer
    assert tokens.get("/registrations/", headers=bearer).json()[0]["id"] == created.json()["id"]


def test_a_host_without_django_ninja_imports_the_app_and_gets_a_clear_message_for_the_api() -> None:
    script = """
import sys
sys.modules["ninja"] = None  # as if django-ninja were not installed
import django
from django.conf import settings
django.setup()
settings.ROOT_URLCONF = "nxwa_onboarding.urls"  # a host that does not include the API's URLs
from django.core import checks
import nxwa_onboarding.admin, nxwa_onboarding.urls, nxwa_onboarding.pages.views, nxwa_onboarding.services
assert not [m for m in checks.run_checks() if m.id.startswith("nxwa_onboarding") and m.is_serious()]
try:
    import nxwa_onboarding.api.urls
except Exception as err:
    print(type(err).__name__, err)
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT_DIR, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ImproperlyConfigured"), done.stdout
    assert "pip install 'django-nxwa-onboarding[api]'" in done.stdout


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_is_a_500_problem_and_its_report_hides_the_code(
    customer: Any, nxcloud: FakeNXCloud, debug: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Django's test client re-raises what got_request_exception reports; a server answers instead.
    client = ApiClient(raise_request_exception=False)
    client.client.force_login(customer)
    created = client.post("/registrations/", {"phone_number": "+86 138 0013 8000"}).json()
    with (
        override_settings(DEBUG=debug),
        mock.patch.object(services, "check_code", side_effect=RuntimeError("boom")),
        caplog.at_level(logging.ERROR, logger="django.request"),
    ):
        response = client.post(f"/registrations/{created['id']}/check/", {"code": "9081-7263"})
    body = problem(response, 500, "server-error")
    assert "Traceback" not in response.content.decode()
    assert "boom" not in json.dumps(body)
    [record] = [r for r in caplog.records if r.name == "django.request" and r.levelno == logging.ERROR]
    assert record.exc_info is not None
    report = ExceptionReporter(record.request, *record.exc_info)  # type: ignore[attr-defined]
    for text in (report.get_traceback_text(), report.get_traceback_html()):
        assert "RuntimeError" in text
        assert "9081-7263" not in text
        assert "90817263" not in text
