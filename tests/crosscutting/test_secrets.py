"""A canary secret and canary codes run through the customer and admin flows (accepted, rejected,
echoed back by NXCloud, timed out, refused for our signature) with every logger at DEBUG.
Neither the secret, nor a code, nor any ``sign`` sent may appear in a log record, the database,
a page of the admin or the customer's, or an exception's text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse

from harness.loopback import LoopbackNXCloud, result
from nxwa_onboarding import services
from nxwa_onboarding.models import PhoneRegistration, VerificationAttempt
from nxwa_onboarding.nxcloud.client import NXCloudClient
from nxwa_onboarding.nxcloud.exceptions import OnboardingError
from nxwa_onboarding.testing import FakeNXCloud, fake_nxcloud

SECRET = "CANARY-SECRET-5b7e0c9d41"
WRONG = "73916482"
RIGHT = "58204793"
ECHO = f"code {WRONG} is wrong (secret {SECRET})"


class Everything(logging.Handler):
    """Every record, formatted with its traceback, its arguments and its extra attributes."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))
        self.texts.append(repr(record.args))
        self.texts.append(repr(vars(record)))


@pytest.fixture
def logs() -> Iterator[Everything]:
    handler = Everything()
    root = logging.getLogger()
    names = ["", *logging.root.manager.loggerDict]
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).disabled) for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).disabled = False
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, (level, disabled) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).disabled = disabled


@pytest.fixture
def canary_nxcloud() -> Iterator[FakeNXCloud]:
    canary = override_settings(NXWA_ONBOARDING={**settings.NXWA_ONBOARDING, "ACCESS_SECRET": SECRET})
    with canary, fake_nxcloud() as fake:
        yield fake


def give_code(fake: FakeNXCloud, registration: PhoneRegistration) -> None:
    """Make the code NXCloud "sent" the canary, so it can be searched for."""
    fake.inbox[registration.phone_number][-1].code = RIGHT


def database_dump() -> str:
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            parts.append(f"{table}: {cursor.fetchall()!r}")
    return "\n".join(parts)


def page(client: Client, url: str, **data: Any) -> str:
    response = client.post(url, data, follow=True) if data else client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


@pytest.mark.django_db
def test_no_secret_code_or_sign_leaks_anywhere(
    canary_nxcloud: FakeNXCloud, logs: Everything, customer: Any, staff: Any, superuser: Any
) -> None:
    fake = canary_nxcloud
    html: list[str] = []
    errors: list[str] = []

    # The customer: start, a wrong code NXCloud echoes (with the secret), then the right code.
    shop = Client(raise_request_exception=False)
    shop.force_login(customer)
    html.append(page(shop, reverse("nxwa_onboarding:start"), phone_number="+86 138 0013 8000", method="sms"))
    mine = PhoneRegistration.objects.get(owner=customer)
    give_code(fake, mine)
    check_url = reverse("nxwa_onboarding:check", kwargs={"public_id": mine.public_id})
    fake.fail("checkCode", 9001, message=ECHO)
    html.append(page(shop, check_url, code=WRONG))
    fake.fail("checkCode", timeout=True)
    html.append(page(shop, check_url, code=WRONG))
    html.append(page(shop, check_url, code=f"{RIGHT[:4]}-{RIGHT[4:]}"))
    html.append(page(shop, mine.get_absolute_url()))
    html.append(page(shop, reverse("nxwa_onboarding:list")))

    # Staff in the admin: our signature refused (NXCloud echoing the secret), then the right code.
    theirs = services.start_registration("+86 139 0013 9000", owner=superuser)
    give_code(fake, theirs)
    desk = Client(raise_request_exception=False)
    desk.force_login(staff)
    enter_url = reverse("admin:nxwa_onboarding_phoneregistration_check_code", args=[theirs.pk])
    html.append(page(desk, enter_url))
    fake.fail("checkCode", 1003, message=f"sign mismatch: {SECRET}")
    html.append(page(desk, enter_url, code=WRONG))
    fake.fail("checkCode", 9001, message=ECHO)
    html.append(page(desk, enter_url, code=WRONG))
    html.append(page(desk, enter_url, code=RIGHT))
    root = Client(raise_request_exception=False)
    root.force_login(superuser)
    for name in ("phoneregistration", "verificationattempt", "coderequest"):
        html.append(page(root, reverse(f"admin:nxwa_onboarding_{name}_changelist")))
    html.append(page(root, reverse("admin:nxwa_onboarding_phoneregistration_change", args=[theirs.pk])))
    for attempt in VerificationAttempt.objects.all():
        html.append(
            page(root, reverse("admin:nxwa_onboarding_verificationattempt_change", args=[attempt.pk]))
        )

    # The client straight, as a host project would call it: every failure's text.
    client = NXCloudClient.from_settings()
    for scripted in ({"code": 9001, "message": ECHO}, {"code": 1003, "message": SECRET}, {"timeout": True}):
        fake.fail("checkCode", **scripted)
        with pytest.raises(OnboardingError) as caught:
            client.check_code(mine.phone_number, WRONG)
        errors += [str(caught.value), repr(caught.value), repr(caught.value.args)]
    errors.append(repr(client))

    # The canaries really went out (the test could catch a leak), and were really looked for.
    sent_codes = [call.payload.get("code") for call in fake.calls_to("checkCode")]
    assert WRONG in sent_codes
    assert RIGHT in sent_codes
    signs = [call.headers["sign"] for call in fake.calls]
    assert len(signs) >= 10
    assert any("nxcloud checkCode" in text for text in logs.texts)
    assert VerificationAttempt.objects.filter(outcome="accepted").count() == 2
    assert "+86 138 0013 8000" in "".join(html)

    places = {
        "log records": "\n".join(logs.texts),
        "database": database_dump(),
        "pages": "\n".join(html),
        "exceptions": "\n".join(errors),
    }
    for where, text in places.items():
        for canary in (SECRET, WRONG, RIGHT, *signs):
            assert canary not in text, f"{canary!r} found in the {where}"


@pytest.mark.django_db
def test_no_secret_in_debug_logs_over_a_real_connection(logs: Everything) -> None:
    """urllib3 and http.client log at DEBUG on a real socket: still nothing secret."""
    with LoopbackNXCloud() as server:
        nxwa = {**settings.NXWA_ONBOARDING, "ACCESS_SECRET": SECRET, "BASE_URL": server.base_url}
        with override_settings(NXWA_ONBOARDING=nxwa):
            registration = services.start_registration("+86 138 0013 8000")
            server.push(result(9001, ECHO))
            assert services.check_code(registration, WRONG).outcome == "rejected"
            assert services.check_code(registration, RIGHT).outcome == "accepted"
        signs = [call.headers["sign"] for call in server.calls()]
    assert any("urllib3" in text for text in logs.texts), "urllib3's DEBUG lines were captured"
    text = "\n".join(logs.texts) + database_dump()
    for canary in (SECRET, WRONG, RIGHT, *signs):
        assert canary not in text
