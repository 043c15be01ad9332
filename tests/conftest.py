"""Shared fixtures: users with and without the app's permissions.

The ``nxcloud`` fixture (an in-memory NXCloud) comes from ``nxwa_onboarding.testing``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone, translation
from hypothesis import settings as hypothesis_settings

from nxwa_onboarding import tasks
from tests.helpers.fuzz import PROFILE, examples
from tests.helpers.users import VIEW_PERMS, make_user

# Tests without their own count take the profile's (100 examples on CI, 10 locally).
hypothesis_settings.register_profile("ci", max_examples=100)
hypothesis_settings.register_profile("dev", max_examples=examples(100))
hypothesis_settings.load_profile(PROFILE)


@pytest.fixture(autouse=True)
def _fresh_language_and_timezone() -> Iterator[None]:
    """LocaleMiddleware leaves the last request's language active in the thread: a test that asked
    for zh-hans must not turn the next test's messages Chinese."""
    translation.activate("en")
    timezone.deactivate()
    yield
    translation.deactivate()
    timezone.deactivate()


@pytest.fixture
def customer(db: None) -> Any:
    return make_user("customer")


@pytest.fixture
def signed_in(client: Client, customer: Any) -> Client:
    """The test client, signed in as ``customer``."""
    client.force_login(customer)
    return client


@pytest.fixture
def other_customer(db: None) -> Any:
    return make_user("other-customer")


@pytest.fixture
def staff(db: None) -> Any:
    """Staff who may view, add, send codes and enter codes."""
    return make_user(
        "staff",
        staff=True,
        perms=(*VIEW_PERMS, "add_phoneregistration", "change_phoneregistration", "verify_phone", "send_code"),
    )


@pytest.fixture
def staff_viewer(db: None) -> Any:
    """Staff who may only look."""
    return make_user("viewer", staff=True, perms=VIEW_PERMS)


@pytest.fixture
def superuser(db: None) -> Any:
    return make_user("root", superuser=True)


@pytest.fixture
def follower() -> Iterator[None]:
    """What a worker (or the cron job) does beside the site: the following pass, every 0.3 s,
    in a thread with its own database connection. The pages never call NXCloud themselves."""
    import threading

    from django.db import connection

    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            while not stop.wait(0.3):
                tasks.follow_pass()
        except BaseException as err:  # surfaced by the test's teardown
            errors.append(err)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="follower", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)
    assert not errors, errors


@pytest.fixture
def sandbox_server(live_server: Any) -> Iterator[str]:
    """The live server, with the app's client pointed at the sandbox mounted on it."""
    settings = {
        "ACCESS_KEY": "live-access-key",
        "ACCESS_SECRET": "live-access-secret",
        "BASE_URL": live_server.url + "/sandbox/nxcloud",
        "APP_KEY": "live-app-key",
        "TIMEOUT": (3.0, 10.0),
        "SANDBOX_ALLOW_WITHOUT_DEBUG": True,
        # Fast, but slow enough that "being set up" is seen before "registered".
        "SANDBOX_REGISTER_STEPS": (0.4, 0.8),
    }
    with override_settings(NXWA_ONBOARDING=settings):
        yield str(live_server.url)
