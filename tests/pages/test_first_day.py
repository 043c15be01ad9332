"""Issue 26, the merchant's side: times as "in 10 minutes" with no zone and dates in the active
language's format, the cooldown said once on the "too many tries" page, and a sign-in page the
app ships in its own look."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.template.loader import get_template
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone, translation

from nxwa_onboarding import texts
from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.pages import act, page, post_code, start, text_of, wrong_code

pytestmark = pytest.mark.django_db
#: A zone's name as the staff pages write it ("UTC", "UTC+8"), or any letters-only abbreviation.
ZONE = re.compile(r"\bUTC\b|\bGMT\b|\b[A-Z]{2,4}T\b|UTC[+-]\d")


def test_relative_text_has_no_clock_and_no_zone() -> None:
    moment = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert texts.relative_text(moment + timedelta(seconds=42), moment) == "in 42 seconds"
    assert texts.relative_text(moment + timedelta(minutes=9, seconds=1), moment) == "in 10 minutes"
    assert texts.relative_text(moment + timedelta(hours=2), moment) == "in 2 hours"
    assert texts.relative_text(None, moment) == ""
    with translation.override("zh-hans"):
        assert "UTC" not in texts.relative_text(moment + timedelta(minutes=3), moment)
    # Staff keep the clock and its zone.
    assert texts.until_text(moment + timedelta(minutes=3), moment) == "in 3 minutes (at 09:03 UTC)"
    assert texts.refusal_text("cooldown", moment + timedelta(minutes=3), moment, clock=False) == (
        "A code was sent moments ago. You can try again in 3 minutes."
    )


def test_the_code_page_says_how_long_not_which_zone(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    for zone in ("UTC", "Asia/Shanghai"):
        with timezone.override(ZoneInfo(zone)):
            words = text_of(page(signed_in, registration))
        assert re.search(r"The code expires in \d+ minutes\.", words), words
        assert re.search(r"Available in \d+ seconds\.", words), words
        assert not ZONE.search(words), words


def test_a_refused_send_tells_the_merchant_when_without_a_zone(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    registration = start(signed_in)
    shown = act(signed_in, "send", registration, method="sms")
    assert shown, "the refusal is said"
    assert "You can try again in" in shown[0]
    assert not ZONE.search(shown[0]), shown


def test_too_many_tries_says_the_cooldown_once(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    for _ in range(5):
        post_code(signed_in, registration, wrong_code(nxcloud))
    words = text_of(page(signed_in, registration))
    assert "Too many wrong tries for this code." in words
    assert len(re.findall(r"in \d+ seconds", words)) == 1, words
    assert re.search(r"Available in \d+ seconds\.", words), words


@pytest.mark.parametrize(
    ("language", "added"),
    [("en", r"Added [A-Z][a-z]{2}\.? \d{1,2}, \d{4}"), ("zh-hans", r"\d{4}年\d{1,2}月\d{1,2}日")],
)
def test_the_list_writes_dates_as_the_language_does(
    signed_in: Client, nxcloud: FakeNXCloud, language: str, added: str
) -> None:
    start(signed_in)
    html = signed_in.get(reverse("nxwa_onboarding:list"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    words = text_of(html)
    assert re.search(added, words), words
    assert not re.search(r"\d{1,2}/\d{1,2}/\d{4}", words), words
    translation.activate("en")


def test_the_app_ships_a_sign_in_page_in_its_look(client: Client, customer: Any) -> None:
    """``registration/login.html`` as the README says: one line that extends the app's page."""
    assert get_template("nxwa_onboarding/login.html")
    html = client.get(reverse("login")).content.decode()
    assert 'class="nxwa-card nxwa-form"' in html
    assert 'class="nxwa-button nxwa-button--primary"' in html
    assert 'id="id_username"' in html
    bad = client.post(reverse("login"), {"username": "customer", "password": "wrong"}).content.decode()
    assert 'role="alert"' in bad


@override_settings(
    TEMPLATES=[{**settings.TEMPLATES[0], "DIRS": []}],
)
def test_the_sign_in_page_comes_with_the_app(rf: RequestFactory) -> None:
    """No template folder of the host's: the app's own page renders Django's login form."""
    request = rf.get("/accounts/login/")
    html = get_template("nxwa_onboarding/login.html").render({"form": AuthenticationForm(request)}, request)
    assert 'id="id_password"' in html
    assert 'class="nxwa-card nxwa-form"' in html


def test_a_registered_number_shows_no_zone(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    PhoneRegistration.objects.filter(pk=registration.pk).update(status="registered")
    assert not ZONE.search(text_of(page(signed_in, registration)))
