"""Arbitrary text into the customer forms: never a 500, and never an NXCloud call for bad input.

The oracle is independent of the forms: ``phone.normalize_phone`` and ``services.normalize_code``
decide what is acceptable; whatever they refuse must not reach NXCloud or the database.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from nxwa_onboarding.phone import allowed_methods, normalize_phone
from nxwa_onboarding.services import normalize_code
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.fuzz import examples
from tests.helpers.pages import start, url
from tests.helpers.services import rules

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=examples(120),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Mostly near-misses (digits, separators, plus signs), some arbitrary Unicode, some known shapes.
phone_text = st.one_of(
    st.text(alphabet="0123456789 +-().", max_size=24),
    st.text(max_size=50),
    st.sampled_from(
        [
            "+86 138 0013 8000",
            "+44 7400 123456",
            "0086 138 0013 8000",
            "+1 202-555-0143",
            "+44 121 234 5678",  # a landline: voice only
            "+44 909 879 0000",  # premium-rate
            "+86 138 ABCD 8000",
            "+86 138 0013 8000 ext 12",
            "\uff0b\uff18\uff16 \uff11\uff13\uff18 \uff10\uff10\uff11\uff13 \uff18\uff10\uff10\uff10",
        ]
    ),
    st.from_regex(r"\+?[0-9]{6,16}", fullmatch=True),
)
code_text = st.one_of(
    st.text(alphabet="0123456789 -", max_size=14),
    st.text(max_size=40),
    st.from_regex(r"[0-9]{3}[- ]?[0-9]{3}", fullmatch=True),
    st.sampled_from(
        [
            "",
            " ",
            "\u0661\u0662\u0663\u0664\u0665\u0666",
            "\uff11\uff12\uff13\uff14\uff15\uff16",
            "123\x00456",
            "12 34-56",
            "0" * 33,
        ]
    ),
)
method_text = st.one_of(st.sampled_from(["sms", "voice"]), st.text(max_size=12))


def phone_is_valid(text: str, method: str) -> bool:
    """The number is accepted, and can get a code by this method (a landline: voice only)."""
    try:
        digits = normalize_phone(text.strip())
    except ValidationError:
        return False
    return "\x00" not in text and method in allowed_methods(digits)


def assert_error_shown(client: Client, response: Any, error_id: str) -> None:
    """The error is on the form's field when the page shows that form; otherwise (a form the
    page no longer offers) it is a message above the page the post redirects to."""
    if response.status_code == 200:
        assert f'id="{error_id}"' in response.content.decode()
    else:
        assert response.status_code == 302
        assert "nxwa-message--error" in client.get(response["Location"]).content.decode()


@rules(MAX_OPEN_REGISTRATIONS_PER_OWNER=1_000_000)  # one login types many numbers here
@FUZZ
@given(phone=phone_text, method=method_text)
def test_start_form_never_fails_and_never_calls_nxcloud_for_bad_input(
    signed_in: Client, nxcloud: FakeNXCloud, phone: str, method: str
) -> None:
    calls, registrations = len(nxcloud.calls), PhoneRegistration.objects.count()
    response = signed_in.post(reverse("nxwa_onboarding:start"), {"phone_number": phone, "method": method})
    assert response.status_code in (200, 302)
    if not phone_is_valid(phone, method) or method not in ("sms", "voice"):
        assert response.status_code == 200
        assert 'class="errorlist"' in response.content.decode()
        assert len(nxcloud.calls) == calls
        assert PhoneRegistration.objects.count() == registrations
    else:
        assert response.status_code == 302
    # Follow the redirect like a browser: the page it leads to renders too.
    if response.status_code == 302:
        assert signed_in.get(response["Location"]).status_code == 200


@FUZZ
@given(code=code_text, extra=st.one_of(st.none(), code_text))
def test_code_form_never_fails_and_never_calls_nxcloud_for_bad_input(
    signed_in: Client, nxcloud: FakeNXCloud, code: str, extra: str | None
) -> None:
    registration = PhoneRegistration.objects.filter(phone_number="8613800138000").first() or start(signed_in)
    checks, attempts = len(nxcloud.calls_to("checkCode")), VerificationAttempt.objects.count()
    # A repeated field (as a crafted form could send) counts as its last value, as Django reads it.
    data = {"code": [code, extra]} if extra is not None else {"code": code}
    typed = extra if extra is not None else code
    response = signed_in.post(url("check", registration), data)
    assert response.status_code in (200, 302)
    if normalize_code(typed.strip()) is None or "\x00" in typed:
        assert_error_shown(signed_in, response, "id_code_error")
        assert len(nxcloud.calls_to("checkCode")) == checks
        assert VerificationAttempt.objects.count() == attempts
    else:
        assert response.status_code == 302
        assert signed_in.get(response["Location"]).status_code == 200


@FUZZ
@given(method=method_text)
def test_send_form_never_fails_and_never_calls_nxcloud_for_bad_input(
    signed_in: Client, nxcloud: FakeNXCloud, method: str
) -> None:
    registration = PhoneRegistration.objects.filter(phone_number="8613800138000").first() or start(signed_in)
    sends, requests = len(nxcloud.calls_to("getCode")), CodeRequest.objects.count()
    response = signed_in.post(url("send", registration), {"method": method})
    assert response.status_code in (200, 302)
    if method not in ("sms", "voice"):
        assert_error_shown(signed_in, response, "id_send_method_error")
        assert len(nxcloud.calls_to("getCode")) == sends
        assert CodeRequest.objects.count() == requests
    else:
        assert response.status_code == 302
