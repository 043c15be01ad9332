"""A browser-like session signed in through Django's login page (``/accounts/login/``)."""

from __future__ import annotations

import re

import requests


def signed_in(base: str, username: str, password: str) -> requests.Session:
    """A browser-like session signed in through the login page (the benchmarks' too)."""
    session = requests.Session()
    page = session.get(base + "/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the login page"
    response = session.post(
        base + "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, f"login failed: {response.status_code}"
    return session
