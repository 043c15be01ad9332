"""End to end over real HTTP: the customer pages and the admin, through the app's real client, to
the sandbox mounted on the same live server. Nothing is mocked: a person's requests go to
pytest-django's live server, the app's client signs and POSTs to ``live_server.url +
"/sandbox/nxcloud"``, and the code is read from the sandbox inbox page as a person would (a
staff member: the inbox is closed to everyone else).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests

from nxwa_onboarding import tasks
from nxwa_onboarding.models import Channel, CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.nxcloud.client import NXCloudClient
from nxwa_onboarding.nxcloud.exceptions import NXCloudAuthError, NXCloudError
from nxwa_onboarding.sandbox.models import SandboxMessage
from tests.helpers.live import Person, wrong_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_customer_registers_a_number_from_start_to_registered(
    sandbox_server: str, customer: Any, staff: Any
) -> None:
    person = Person(sandbox_server)
    person.login("/accounts/login/", "customer", then="/onboarding/")
    # The codes are in the sandbox inbox, which only staff may read: a second browser.
    operator = Person(sandbox_server)
    operator.login("/admin/login/", "staff", then="/admin/")

    page = person.post("/onboarding/start/", {"phone_number": "+86 138-0013-8000", "method": "sms"})
    detail = page.url
    assert re.search(r"/onboarding/r/[0-9a-f-]{36}/$", detail)
    registration = PhoneRegistration.objects.get(phone_number="8613800138000")
    assert registration.status == PhoneRegistration.Status.CODE_SENT
    assert registration.owner == customer

    inbox = person.session.get(sandbox_server + "/sandbox/nxcloud/inbox/8613800138000/", timeout=30)
    assert inbox.status_code == 403
    code = operator.code_from_inbox("8613800138000")
    assert code not in inbox.text
    path = detail.removeprefix(sandbox_server)
    refused = person.post(path + "check/", {"code": wrong_code(code)})
    assert "Your number is verified" not in refused.text
    assert wrong_code(code) not in refused.text

    verified = person.post(path + "check/", {"code": f"{code[:3]}-{code[3:]}"})
    assert "Your number is verified." in verified.text
    assert code not in verified.text

    seen: list[str] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        tasks.follow_pass()  # what cron does with the immediate backend; the page only reads
        page = person.post(path + "refresh/", {})
        registration.refresh_from_db()
        seen.append(registration.status)
        if registration.status == PhoneRegistration.Status.REGISTERED:
            break
        time.sleep(0.25)
    assert seen[-1] == PhoneRegistration.Status.REGISTERED, seen
    assert PhoneRegistration.Status.CLIENT_CREATED in seen  # progress was visible on the way
    assert "All done" in page.text
    assert registration.register_status == 5
    assert registration.verified_name == "Sandbox Merchant"

    outcomes = list(registration.attempts.order_by("created_at").values_list("outcome", "channel"))
    assert outcomes == [("rejected", Channel.CUSTOMER), ("accepted", Channel.CUSTOMER)]
    assert registration.code_requests.get().outcome == CodeRequest.Outcome.SENT
    # The code lives in the sandbox's "phone", never in the app's records.
    assert SandboxMessage.objects.filter(phone_number="8613800138000").count() == 1
    for row in [*CodeRequest.objects.all(), *VerificationAttempt.objects.all()]:
        assert code not in row.result_message
    assert not VerificationAttempt.objects.filter(code_digest__contains=code).exists()


def test_staff_onboard_a_number_from_the_admin(sandbox_server: str, staff: Any) -> None:
    person = Person(sandbox_server)
    person.login("/admin/login/", "staff", then="/admin/")
    changelist = "/admin/nxwa_onboarding/phoneregistration/"

    person.post(changelist + "add/", {"phone_number": "+86 139 0013 9000", "owner": ""})
    registration = PhoneRegistration.objects.get(phone_number="8613900139000")
    assert registration.created_by == staff

    def act(action: str) -> requests.Response:
        return person.post(
            changelist,
            {"action": action, "_selected_action": str(registration.pk), "post": "yes", "index": "0"},
        )

    sent = act("send_code_sms")
    assert "Code sent by SMS to 1 number" in sent.text
    code = person.code_from_inbox("8613900139000")

    check_path = f"{changelist}{registration.pk}/check-code/"
    person.get(check_path)
    wrong = person.post(check_path, {"code": wrong_code(code)})
    assert wrong_code(code) not in wrong.text
    registration.refresh_from_db()
    assert registration.status == PhoneRegistration.Status.CODE_SENT

    accepted = person.post(check_path, {"code": code})
    # The accepted code starts the WhatsApp client's setup by itself, as on every door (the
    # suite's immediate Tasks backend runs it on commit): nothing for staff to press.
    assert "nothing to press" in accepted.text
    registration.refresh_from_db()
    assert registration.status == PhoneRegistration.Status.CLIENT_CREATED

    deadline = time.monotonic() + 15
    while registration.status != PhoneRegistration.Status.REGISTERED and time.monotonic() < deadline:
        time.sleep(0.3)
        act("refresh_from_nxcloud")
        registration.refresh_from_db()
    assert registration.status == PhoneRegistration.Status.REGISTERED
    change_page = person.get(f"{changelist}{registration.pk}/change/").text
    assert "Registered" in change_page
    assert code not in change_page

    channels = set(registration.attempts.values_list("channel", flat=True)) | set(
        registration.code_requests.values_list("channel", flat=True)
    )
    assert channels == {Channel.ADMIN}


def test_the_sandbox_checks_live_requests_like_nxcloud(sandbox_server: str) -> None:
    """Over real HTTP: another secret is 1003 and delivers nothing; sha256 signing works."""
    base = sandbox_server + "/sandbox/nxcloud"
    with pytest.raises(NXCloudAuthError) as caught:
        NXCloudClient("live-access-key", "not-the-sandbox-secret", base_url=base).get_code("8613800138000")
    assert caught.value.code == 1003
    assert not SandboxMessage.objects.exists()

    client = NXCloudClient("live-access-key", "live-access-secret", base_url=base, algorithm="sha256")
    client.get_code("8613800138000", "voice")
    assert SandboxMessage.objects.get().method == "voice"
    with pytest.raises(NXCloudError) as wrong_app:
        client.phone_list("someone-elses-app")
    assert wrong_app.value.code == 9008
