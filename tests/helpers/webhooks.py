"""Shared by the webhook and application tests: applications made through the fake NXCloud,
registrations under them, verified and listed by phoneList."""

from __future__ import annotations

from typing import Any

from nxwa_onboarding import services
from nxwa_onboarding.models import Application, PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud


def new_application(
    nxcloud: FakeNXCloud, name: str = "Acme", *, owner: Any = None, signed: bool = False
) -> Application:
    application = services.create_application(name, owner=owner)
    assert application.outcome == Application.Outcome.CREATED, services.outcome_text(application)
    if signed:
        Application.objects.filter(pk=application.pk).update(signs_callbacks=True)
        application.signs_callbacks = True
    return application


def verified_under(nxcloud: FakeNXCloud, application: Application, phone: str) -> PhoneRegistration:
    """A registration of ``phone`` under ``application``, verified, its client created, and bound
    to the application at the fake NXCloud."""
    registration = services.start_registration(phone, application=application)
    code = nxcloud.latest_code(phone)
    assert code is not None
    assert services.check_code(registration, code).outcome == "accepted"
    services.create_client(registration)
    nxcloud.bind(phone, application.app_key if not application.is_default else "")
    registration.refresh_from_db()
    return registration
