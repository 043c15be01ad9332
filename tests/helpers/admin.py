"""Helpers for the admin tests: signed-in clients, page text, the URLs, the secret sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from nxwa_onboarding import services
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.users import make_user

PHONE = "8613800138000"


OTHER_PHONE = "8613900139000"


CHANGELIST = "admin:nxwa_onboarding_phoneregistration_changelist"


SECRET = "test-access-secret-CANARY-7f3a"


def change_url(registration: PhoneRegistration) -> str:
    return reverse("admin:nxwa_onboarding_phoneregistration_change", args=[registration.pk])


def check_url(registration: PhoneRegistration) -> str:
    return reverse("admin:nxwa_onboarding_phoneregistration_check_code", args=[registration.pk])


def logged_in(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def message_texts(response: Any) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def html(response: Any) -> str:
    content: bytes = response.content
    return content.decode()


def assert_nothing_secret(page: str, nxcloud: FakeNXCloud | None = None) -> None:
    assert SECRET not in page
    if nxcloud is not None:
        for sent in nxcloud.inbox.values():
            for code in sent:
                assert code.code not in page
        for call in nxcloud.calls:
            sign = call.headers.get("sign")
            if sign:
                assert sign not in page


def populate(count: int, *, start: int = 0) -> None:
    """``count`` registrations with an owner, a code sent and a wrong try each (rows, no NXCloud)."""
    owners = [make_user(f"owner-{start + i}") for i in range(min(count, 5))]
    now = timezone.now()
    registrations = PhoneRegistration.objects.bulk_create(
        [
            PhoneRegistration(
                phone_number=f"86138{start + i:08d}",
                owner=owners[i % len(owners)],
                status=PhoneRegistration.Status.CODE_SENT,
                last_code_method="sms",
                code_sent_at=now,
                number_status="CONNECTED" if i % 2 else "",
                quality_rating="GREEN" if i % 2 else "",
                register_status=5 if i % 3 == 0 else None,
            )
            for i in range(count)
        ]
    )
    code_requests = CodeRequest.objects.bulk_create(
        [
            CodeRequest(
                registration=r, method="sms", channel="admin", outcome="sent", finished_at=now, ip="192.0.2.1"
            )
            for r in registrations
        ]
    )
    VerificationAttempt.objects.bulk_create(
        [
            VerificationAttempt(
                registration=cr.registration,
                code_request=cr,
                channel="customer",
                code_digest="0" * 64,
                outcome="rejected",
                finished_at=now + timedelta(seconds=1),
                ip="192.0.2.1",
            )
            for cr in code_requests
        ]
    )


def act(client: Client, action: str, registrations: list[PhoneRegistration], *, confirm: bool) -> Any:
    """POST an action as the changelist form does (``index``), or as its confirmation page does."""
    data: dict[str, Any] = {"action": action, "_selected_action": [r.pk for r in registrations]}
    if confirm:
        data["post"] = "yes"
    else:
        data["index"] = "0"
    return client.post(reverse(CHANGELIST), data)


def verify(registration: PhoneRegistration, nxcloud: FakeNXCloud) -> None:
    services.request_code(registration, "sms")
    code = nxcloud.latest_code(registration.phone_number)
    assert code is not None
    assert services.check_code(registration, code).outcome == "accepted"
