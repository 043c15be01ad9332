# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""What a merchant meets around the flow: words they know, a sign-out, an icon, the clock's zone,
no "No code?" once the code is used up, and a sign-in page in their language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles import finders
from django.test import Client, override_settings
from django.urls import include, path, reverse
from django.utils import timezone, translation

from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud
from nxwa_onboarding.texts import until_text, zone_name
from tests.helpers.pages import page, post_code, start, wrong_code
from tests.helpers.users import PASSWORD

pytestmark = pytest.mark.django_db
EXAMPLE_TEMPLATES = Path(__file__).resolve().parents[2] / "example_project" / "templates"


def test_setting_up_is_said_in_plain_words(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    PhoneRegistration.objects.filter(pk=registration.pk).update(status="client_created", register_status=3)
    for html in (
        page(signed_in, registration),
        signed_in.get(reverse("nxwa_onboarding:list")).content.decode(),
    ):
        assert "Client created" not in html
        assert "Creation in progress" not in html
        assert re.search(r'class="nxwa-badge nxwa-badge--client_created">Setting up WhatsApp<', html)


def test_no_code_is_not_offered_once_the_tries_are_spent(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    registration = start(signed_in)
    assert "No code?" in page(signed_in, registration)
    for _ in range(5):
        post_code(signed_in, registration, wrong_code(nxcloud))
    html = page(signed_in, registration)
    assert "No code?" not in html
    assert "Codes can take a minute to arrive" not in html
    assert "Get a new code" in html


def test_sign_out_is_a_post_form_that_signs_out(signed_in: Client) -> None:
    html = signed_in.get(reverse("nxwa_onboarding:list")).content.decode()
    form = re.search(r'<form class="nxwa-signout" method="post" action="([^"]+)">(.*?)</form>', html, re.S)
    assert form is not None
    assert form.group(1) == reverse("logout")
    assert "csrfmiddlewaretoken" in form.group(2)
    response = signed_in.post(reverse("logout"), {"next": reverse("nxwa_onboarding:list")})
    assert response.status_code == 302
    assert signed_in.get(reverse("nxwa_onboarding:list")).status_code == 302  # to the sign-in page


def test_no_sign_out_form_for_a_visitor(client: Client) -> None:
    assert "nxwa-signout" not in client.get(reverse("login")).content.decode()


#: A host with a sign-in page but no URL named "logout": the base template offers no button.
urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("onboarding/", include("nxwa_onboarding.urls")),
]


@override_settings(ROOT_URLCONF=__name__)
def test_no_sign_out_form_without_a_logout_url(signed_in: Client) -> None:
    response = signed_in.get("/onboarding/")
    assert response.status_code == 200
    assert "nxwa-signout" not in response.content.decode()


def test_pages_name_their_icon_which_static_serves() -> None:
    html = Client().get(reverse("login")).content.decode()
    assert '<link rel="icon" href="/static/nxwa_onboarding/favicon.svg" type="image/svg+xml">' in html
    assert finders.find("nxwa_onboarding/favicon.svg")


def test_times_say_their_zone() -> None:
    moment = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert until_text(moment + timedelta(minutes=3), moment) == "in 3 minutes (at 09:03 UTC)"
    with timezone.override(ZoneInfo("Asia/Shanghai")):
        assert until_text(moment + timedelta(minutes=3), moment) == "in 3 minutes (at 17:03 UTC+8)"
    with timezone.override(ZoneInfo("Asia/Kolkata")):
        assert zone_name(moment) == "UTC+5:30"
    with timezone.override(ZoneInfo("America/St_Johns")):
        assert zone_name(moment) == "UTC-3:30"


def test_the_customers_time_zone_when_the_host_activates_it(signed_in: Client, nxcloud: FakeNXCloud) -> None:
    """A host that knows its customer's zone activates it (``timezone.activate`` in a middleware);
    the page says how long to wait, which reads the same in every zone (no clock, no zone name)."""
    registration = start(signed_in)
    with timezone.override(ZoneInfo("Asia/Shanghai")):
        html = page(signed_in, registration)
    assert re.search(r"Available in \d+ seconds\.", html)
    assert "UTC" not in html


@pytest.mark.parametrize("templates", [None, EXAMPLE_TEMPLATES], ids=["tests", "example-project"])
def test_sign_in_page_in_chinese(client: Client, customer: Any, templates: Path | None) -> None:
    from django.conf import settings

    options = settings.TEMPLATES[0]
    dirs = [templates] if templates else options["DIRS"]
    with override_settings(TEMPLATES=[{**options, "DIRS": dirs}]):
        response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = response.content.decode()
    assert '<html lang="zh-hans"' in html
    assert "<title>登录</title>" in html
    assert "<h1>登录</h1>" in html
    assert "Sign in" not in html
    if templates:
        assert "演示：" in html
    translation.activate("en")
    assert client.login(username="customer", password=PASSWORD)
