"""Shared fixtures: users with and without the app's permissions.

The ``nxcloud`` fixture (an in-memory NXCloud) comes from ``nxwa_onboarding.testing``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone, translation

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_language_and_timezone() -> Iterator[None]:
    """LocaleMiddleware leaves the last request's language active in the thread: a test that asked
    for zh-hans must not turn the next test's messages Chinese."""
    translation.activate("en")
    timezone.deactivate()
    yield
    translation.deactivate()
    timezone.deactivate()


def make_user(
    username: str, *, staff: bool = False, superuser: bool = False, perms: tuple[str, ...] = ()
) -> Any:
    user = get_user_model().objects.create_user(
        username, password=PASSWORD, is_staff=staff or superuser, is_superuser=superuser
    )
    if perms:
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label="nxwa_onboarding", codename__in=perms)
        )
    return user


VIEW_PERMS = ("view_phoneregistration", "view_verificationattempt", "view_coderequest")


@pytest.fixture
def customer(db: None) -> Any:
    return make_user("customer")


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

    from nxwa_onboarding import tasks

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
