"""Helpers for the tests over real HTTP: a person in a browser-like session, the sandbox's codes."""

from __future__ import annotations

import re

import requests

from tests.helpers.users import PASSWORD

CODE_ON_PAGE = re.compile(r'data-code="([0-9]+)"')


class Person:
    """A browser, reduced to what a form needs: cookies, the CSRF token, following redirects."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def get(self, path: str) -> requests.Response:
        response = self.session.get(self.base + path, timeout=30)
        assert response.status_code == 200, (path, response.status_code)
        return response

    def post(self, path: str, data: dict[str, str]) -> requests.Response:
        if "csrftoken" not in self.session.cookies:
            self.session.get(self.base + path, timeout=30)
        data = {"csrfmiddlewaretoken": self.session.cookies["csrftoken"], **data}
        response = self.session.post(
            self.base + path, data=data, headers={"Referer": self.base + path}, timeout=30
        )
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        return response

    def login(self, path: str, username: str, then: str) -> None:
        self.get(path)
        page = self.post(path, {"username": username, "password": PASSWORD, "next": then})
        assert "sessionid" in self.session.cookies, page.text[:500]

    def code_from_inbox(self, digits: str) -> str:
        """Open the sandbox inbox, then the number's messages, and read the newest code."""
        listing = self.get("/sandbox/nxcloud/inbox/").text
        assert f"/sandbox/nxcloud/inbox/{digits}/" in listing
        codes = CODE_ON_PAGE.findall(self.get(f"/sandbox/nxcloud/inbox/{digits}/").text)
        assert codes, "no code in the inbox"
        return str(codes[0])  # newest first


def wrong_code(code: str) -> str:
    return "000000" if code != "000000" else "111111"
