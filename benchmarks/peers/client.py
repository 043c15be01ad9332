"""A light load generator: one kept-alive ``http.client`` connection per thread, cookies kept by
hand, a form posted with the CSRF cookie's own value as its token (Django accepts the unmasked
secret). Much less client work per request than ``requests``, so a trivial view is measured by
the server, not by the client (the section prints both clients' ceilings on the trivial view)."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit


class Client:
    """One browser: a kept-alive connection to ``base`` and its cookies."""

    def __init__(self, base: str, cookies: dict[str, str] | None = None) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cookies = dict(cookies or {})
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        return self.conn

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, bytes]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode({**form, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, ConnectionError):
                # The server closed a kept-alive connection between requests: once more, afresh.
                self.close()
                if attempt == 2:
                    raise
                continue
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                value = rest.split(";", 1)[0]
                if value in ("", '""') or "max-age=0" in header.lower():
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = value
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, data
        raise AssertionError("unreachable")

    def get(self, path: str) -> int:
        return self.request("GET", path)[0]

    def post(self, path: str, form: dict[str, str]) -> int:
        return self.request("POST", path, form)[0]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Tally:
    """One phase's count, statuses and wall time."""

    count: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    exhausted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rps(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0


def run_phase(threads: int, seconds: float, request: Callable[[int], int | None]) -> Tally:
    """``threads`` threads call ``request(thread index)`` until ``seconds`` have passed (or it
    returns None: nothing left to send); each returns the response's status."""
    tally = Tally()
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        counts: dict[int, int] = {}
        done = 0
        while time.monotonic() < deadline:
            try:
                status = request(index)
            except (OSError, http.client.HTTPException):
                status = 599
            if status is None:
                tally.exhausted = True
                break
            counts[status] = counts.get(status, 0) + 1
            done += 1
        with tally.lock:
            tally.count += done
            for status, n in counts.items():
                tally.statuses[status] = tally.statuses.get(status, 0) + n

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    tally.elapsed = time.monotonic() - started
    return tally
