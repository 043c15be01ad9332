"""Host projects written against the documented imports keep working after the package was
organised by subject (CHANGELOG "Moved imports"): each documented name is imported here from the
path the documentation gives, and is the same object as at its new home."""

from __future__ import annotations

import importlib

import pytest

#: (documented module, name, where it lives now)
DOCUMENTED = [
    ("nxwa_onboarding.client", "NXCloudClient", "nxwa_onboarding.nxcloud.client"),
    ("nxwa_onboarding.signing", "compute_sign", "nxwa_onboarding.nxcloud.signing"),
    ("nxwa_onboarding.signing", "verify_sign", "nxwa_onboarding.nxcloud.signing"),
    ("nxwa_onboarding.exceptions", "OnboardingError", "nxwa_onboarding.nxcloud.exceptions"),
    ("nxwa_onboarding.exceptions", "NXCloudError", "nxwa_onboarding.nxcloud.exceptions"),
    ("nxwa_onboarding.exceptions", "NXCloudAuthError", "nxwa_onboarding.nxcloud.exceptions"),
    ("nxwa_onboarding.exceptions", "NXCloudConfigurationError", "nxwa_onboarding.nxcloud.exceptions"),
    ("nxwa_onboarding.exceptions", "NXCloudBusinessError", "nxwa_onboarding.nxcloud.exceptions"),
    ("nxwa_onboarding.exceptions", "TransportError", "nxwa_onboarding.nxcloud.exceptions"),
    ("nxwa_onboarding.exceptions", "InvalidStateError", "nxwa_onboarding.nxcloud.exceptions"),
    ("nxwa_onboarding.models", "PhoneRegistration", "nxwa_onboarding.models.registrations"),
    ("nxwa_onboarding.models", "CodeRequest", "nxwa_onboarding.models.registrations"),
    ("nxwa_onboarding.models", "VerificationAttempt", "nxwa_onboarding.models.registrations"),
    ("nxwa_onboarding.models", "Application", "nxwa_onboarding.models.applications"),
    ("nxwa_onboarding.models", "WebhookDelivery", "nxwa_onboarding.models.applications"),
    ("nxwa_onboarding.models", "FollowState", "nxwa_onboarding.models.follow"),
    ("nxwa_onboarding.services", "start_registration", None),
    ("nxwa_onboarding.services", "request_code", None),
    ("nxwa_onboarding.services", "check_code", None),
    ("nxwa_onboarding.services", "create_client", None),
    ("nxwa_onboarding.services", "get_state", None),
    ("nxwa_onboarding.services.applications", "application_for_owner", None),
    ("nxwa_onboarding.urls", "urlpatterns", "nxwa_onboarding.pages.urls"),
    ("nxwa_onboarding.webhooks.urls", "urlpatterns", None),
    ("nxwa_onboarding.api.urls", "urlpatterns", None),
    ("nxwa_onboarding.api.auth", "SessionAuth", None),
    ("nxwa_onboarding.sandbox.urls", "urlpatterns", None),
    ("nxwa_onboarding.addresses", "remote_addr", None),
    ("nxwa_onboarding.signals", "code_verified", None),
    ("nxwa_onboarding.testing", "fake_nxcloud", None),
    ("nxwa_onboarding.unavailable", "unavailable_when_database_down", None),
    ("nxwa_onboarding.phone", "normalize_phone", None),
    ("nxwa_onboarding.tasks", "client_after_commit", None),
]


@pytest.mark.parametrize(("module", "name", "home"), DOCUMENTED)
def test_a_documented_import_still_works(module: str, name: str, home: str | None) -> None:
    found = getattr(importlib.import_module(module), name)
    if home is not None:
        assert found is getattr(importlib.import_module(home), name)


def test_the_urlconf_hosts_include_keeps_its_namespace() -> None:
    assert importlib.import_module("nxwa_onboarding.urls").app_name == "nxwa_onboarding"
