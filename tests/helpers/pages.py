"""Helpers for the customer pages' tests: start a registration, post a code, read what was said."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from django.test import Client, TestCase
from django.urls import reverse

from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.testing import FakeNXCloud

PHONE = "+86 138 0013 8000"


DIGITS = "8613800138000"


SECRET = "test-access-secret-CANARY-7f3a"


DOWN = "We could not reach WhatsApp's verification service just now"


CONFIGURATION = "Something is wrong on our side"


UNKNOWN_CHECK = "We could not find out whether your code was accepted"


def shown(client: Client, response: Any) -> list[str]:
    """Follow a POST's redirect the way a browser does; the messages the page then shows."""
    assert response.status_code == 302, response.content.decode()[:2000]
    html = client.get(response["Location"]).content.decode()
    return [text_of(m) for m in re.findall(r'<div class="nxwa-message[^"]*"[^>]*>(.*?)</div>', html, re.S)]


def start_response(client: Client, phone: str = PHONE, method: str = "sms") -> Any:
    return client.post(reverse("nxwa_onboarding:start"), {"phone_number": phone, "method": method})


def start(client: Client, phone: str = PHONE, method: str = "sms") -> PhoneRegistration:
    """Add a number through the start page (and read the page it leads to)."""
    response = start_response(client, phone, method)
    assert response.status_code == 302, response.content.decode()[:2000]
    registration = PhoneRegistration.objects.get(public_id=response["Location"].rstrip("/").split("/")[-1])
    assert response["Location"] == registration.get_absolute_url()
    shown(client, response)
    return registration


def url(name: str, registration: PhoneRegistration) -> str:
    return reverse(f"nxwa_onboarding:{name}", kwargs={"public_id": registration.public_id})


def act(client: Client, name: str, registration: PhoneRegistration, **data: str) -> list[str]:
    """POST to one of the registration's actions; the messages shown on the page after it.
    What the request enqueued on commit runs when it ends, as on a real server."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(url(name, registration), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == registration.get_absolute_url()
    return shown(client, response)


def post_code(client: Client, registration: PhoneRegistration, code: str) -> list[str]:
    return act(client, "check", registration, code=code)


def page(client: Client, registration: PhoneRegistration) -> str:
    response = client.get(registration.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def text_of(html: str) -> str:
    """The visible words, whitespace collapsed: what a person reads."""
    without_tags = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", unescape(without_tags)).strip()


def wrong_code(nxcloud: FakeNXCloud, digits: str = DIGITS) -> str:
    right = nxcloud.latest_code(digits)
    assert right is not None
    return "000000" if right != "000000" else "111111"
