"""No admin page, in any state, shows the access secret, a sign, a code or a code's digest."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from nxwa_onboarding import services
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.admin import SECRET, html, logged_in

WRONG_SECRET = "WRONG-SECRET-CANARY-91c2"
ACTIONS = ("send_code_sms", "send_code_voice", "create_whatsapp_client", "refresh_from_nxcloud")


def every_page(client: Client) -> list[tuple[str, str]]:
    """(what, html) for every admin page of the app, actions' confirmation pages included."""
    pages: list[tuple[str, str]] = []

    def get(what: str, url: str, params: dict[str, str] | None = None) -> None:
        response = client.get(url, params or {})
        assert response.status_code == 200, (what, response.status_code)
        pages.append((what, html(response)))

    get("index", reverse("admin:index"))
    get("app", reverse("admin:app_list", args=["nxwa_onboarding"]))
    for model in ("phoneregistration", "verificationattempt", "coderequest"):
        get(f"{model} list", reverse(f"admin:nxwa_onboarding_{model}_changelist"))
        get(f"{model} search", reverse(f"admin:nxwa_onboarding_{model}_changelist"), {"q": "+86 138"})
    for registration in PhoneRegistration.objects.all():
        pk = registration.pk
        get("change", reverse("admin:nxwa_onboarding_phoneregistration_change", args=[pk]))
        get("history", reverse("admin:nxwa_onboarding_phoneregistration_history", args=[pk]))
        get("check code", reverse("admin:nxwa_onboarding_phoneregistration_check_code", args=[pk]))
        get("delete", reverse("admin:nxwa_onboarding_phoneregistration_delete", args=[pk]))
    for attempt in VerificationAttempt.objects.all():
        get("attempt", reverse("admin:nxwa_onboarding_verificationattempt_change", args=[attempt.pk]))
    for code_request in CodeRequest.objects.all():
        get("code request", reverse("admin:nxwa_onboarding_coderequest_change", args=[code_request.pk]))
    selected = list(PhoneRegistration.objects.values_list("pk", flat=True))
    for action in ACTIONS[:3]:
        response = client.post(
            reverse("admin:nxwa_onboarding_phoneregistration_changelist"),
            {"action": action, "_selected_action": selected, "index": "0"},
        )
        assert response.status_code == 200, action
        pages.append((action, html(response)))
    return pages


@pytest.mark.django_db
def test_no_page_shows_a_secret_sign_code_or_digest(
    superuser: Any, customer: Any, nxcloud: FakeNXCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    client = logged_in(superuser)
    verified = services.create_registration("+86 138 0013 8000", owner=customer)
    services.request_code(verified, "sms")
    code = nxcloud.latest_code(verified.phone_number)
    assert code is not None
    wrong = "000000" if code != "000000" else "999999"
    services.check_code(verified, wrong, ip="198.51.100.7")
    services.check_code(verified, code, user=superuser, ip="127.0.0.1", channel="admin")

    pending = services.create_registration("+86 139 0013 9000")
    services.request_code(pending, "voice")
    nxcloud.fail("checkCode", timeout=True)
    services.check_code(pending, nxcloud.latest_code(pending.phone_number) or "", ip="198.51.100.8")
    nxcloud.fail("checkCode", http_status=500, body="<html>Internal Server Error</html>")
    services.check_code(pending, "123-456", ip="198.51.100.8")

    misconfigured = services.create_registration("+86 137 0013 7000")
    with override_settings(NXWA_ONBOARDING={"ACCESS_KEY": "test-access-key", "ACCESS_SECRET": WRONG_SECRET}):
        services.request_code(misconfigured, "sms")  # NXCloud answers 1003
        # The staff member tries the code anyway, through the admin, with the wrong secret set.
        client.post(
            reverse("admin:nxwa_onboarding_phoneregistration_check_code", args=[misconfigured.pk]),
            {"code": "654321"},
        )
        pages = every_page(client)
    pages += every_page(client)

    codes = {sent.code for inbox in nxcloud.inbox.values() for sent in inbox} | {wrong, "654321"}
    signs = {call.headers["sign"] for call in nxcloud.calls if call.headers.get("sign")}
    digests = set(VerificationAttempt.objects.values_list("code_digest", flat=True))
    assert codes
    assert signs
    assert digests
    for what, page in pages:
        assert SECRET not in page, what
        assert WRONG_SECRET not in page, what
        assert "Traceback" not in page, what
        for value in codes | signs | digests:
            assert value not in page, (what, value)
    # The pages did show what staff need: the addresses and the refused signature's result code.
    attempts_list = dict(pages)["verificationattempt list"]
    assert "198.51.100.7" in attempts_list
    assert "198.51.100.8" in attempts_list
    assert "1003" in dict(pages)["coderequest list"]
