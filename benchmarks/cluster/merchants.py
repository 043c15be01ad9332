"""The merchants of ``benchmarks/cluster/run.py``, each a browser: its own session on one of the web
server instances, through the customer pages with login and CSRF as a person's browser has them.

- ``sign_up``: sign in, add the number on the start page (the site sends the code through NXCloud:
  the sandbox puts it in its inbox table, where ``cluster.py`` reads it);
- ``verify_and_follow``: wait at the barrier, submit the code (the customer's check view),
  follow the redirect to the number's page, then poll as the page's script does (POST refresh
  with ``X-Requested-With: fetch`` after 2.5, 4, 6, 10, 15, 30 s; on a change the page is
  reloaded and its script starts again) until the page shows no more progress or the deadline.

Every response's status is counted per kind of request (``Tally``); a request that got no answer
counts as 599.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

PASSWORD = "cluster-merchant-pw"
#: The page script's delays between polls (nxwa_onboarding/static/nxwa_onboarding/onboarding.js).
POLL_DELAYS = (2.5, 4.0, 6.0, 10.0, 15.0, 30.0)
TIMEOUT = 120.0
NO_ANSWER = 599

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SHOWN_FIELD = re.compile(r'name="shown" value="([^"]*)"')


@dataclass
class Tally:
    """Response statuses by kind of request, from every merchant's thread."""

    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    #: What broke a merchant's thread (an answer it could not read, a broken barrier).
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status: int) -> None:
        with self.lock:
            self.statuses.setdefault(kind, Counter())[status] += 1

    def send(
        self, kind: str, session: requests.Session, method: str, url: str, **kwargs: Any
    ) -> requests.Response | None:
        try:
            response = session.request(method, url, timeout=TIMEOUT, allow_redirects=False, **kwargs)
        except requests.RequestException:
            self.record(kind, NO_ANSWER)
            return None
        self.record(kind, response.status_code)
        return response

    def server_errors(self) -> int:
        return sum(n for counts in self.statuses.values() for status, n in counts.items() if status >= 500)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            kind: {str(status): n for status, n in sorted(counts.items())}
            for kind, counts in sorted(self.statuses.items())
        }


@dataclass
class Merchant:
    index: int
    base: str
    username: str
    phone: str  # as typed on the start page
    session: requests.Session = field(default_factory=requests.Session)
    page: str = ""  # the number's page, path only
    code: str = ""
    check_status: int = 0
    checked_at: float = 0.0
    done_at: float = 0.0
    last_shown: str = ""
    registered_seen: bool = False  # the page said "registered"
    polls: int = 0

    def post(self, tally: Tally, kind: str, path: str, data: dict[str, str], **kwargs: Any) -> Any:
        data = {**data, "csrfmiddlewaretoken": self.session.cookies.get("csrftoken") or ""}
        headers = {"Referer": self.base + path, **kwargs.pop("headers", {})}
        return tally.send(kind, self.session, "POST", self.base + path, data=data, headers=headers, **kwargs)


def sign_up(merchant: Merchant, tally: Tally) -> None:
    """Sign in and add the number; ``merchant.page`` is the number's page afterwards."""
    login = tally.send("login page", merchant.session, "GET", merchant.base + "/accounts/login/")
    if login is None or not CSRF_FIELD.search(login.text):
        raise RuntimeError(f"{merchant.username}: no login page ({login and login.status_code})")
    signed_in = merchant.post(
        tally, "login", "/accounts/login/", {"username": merchant.username, "password": PASSWORD}
    )
    if signed_in is None or signed_in.status_code != 302:
        raise RuntimeError(f"{merchant.username}: login failed ({signed_in and signed_in.status_code})")
    started = merchant.post(
        tally, "start form", "/onboarding/start/", {"phone_number": merchant.phone, "method": "sms"}
    )
    if started is None or started.status_code != 302 or "/onboarding/r/" not in started.headers["Location"]:
        raise RuntimeError(f"{merchant.username}: start form gave {started and started.status_code}")
    merchant.page = started.headers["Location"]


def _load_page(merchant: Merchant, tally: Tally) -> bool:
    """GET the number's page (a browser following a redirect, or a reload): True while it still
    shows progress (its poll form), with the status it shows in ``last_shown``."""
    page = tally.send("status page", merchant.session, "GET", merchant.base + merchant.page)
    if page is None or page.status_code != 200:
        return True  # counted; the script would try again on the next reload
    shown = SHOWN_FIELD.search(page.text)
    merchant.last_shown = shown.group(1) if shown else ""
    merchant.registered_seen = "nxwa-done" in page.text
    return shown is not None and "data-nxwa-poll" in page.text


def verify_and_follow(merchant: Merchant, tally: Tally, barrier: threading.Barrier, deadline: float) -> None:
    try:
        _verify_and_follow(merchant, tally, barrier, deadline)
    except Exception as err:
        with tally.lock:
            tally.errors.append(f"{merchant.username}: {type(err).__name__}: {err}")


def _verify_and_follow(merchant: Merchant, tally: Tally, barrier: threading.Barrier, deadline: float) -> None:
    barrier.wait(timeout=TIMEOUT)
    checked = merchant.post(tally, "code submission", merchant.page + "check/", {"code": merchant.code})
    merchant.checked_at = time.monotonic()
    merchant.check_status = checked.status_code if checked is not None else NO_ANSWER
    in_progress = _load_page(merchant, tally)
    attempt = 0
    while in_progress:
        delay = POLL_DELAYS[min(attempt, len(POLL_DELAYS) - 1)]
        attempt += 1
        if time.monotonic() + delay > deadline:
            return
        time.sleep(delay)
        merchant.polls += 1
        answer = merchant.post(
            tally,
            "refresh poll",
            merchant.page + "refresh/",
            {"shown": merchant.last_shown},
            headers={"X-Requested-With": "fetch", "Accept": "application/json"},
        )
        if answer is None or answer.status_code != 200:
            continue
        state = answer.json()
        if state.get("changed") or state.get("done"):
            in_progress = _load_page(merchant, tally)
            attempt = 0
    if merchant.registered_seen:
        merchant.done_at = time.monotonic()
