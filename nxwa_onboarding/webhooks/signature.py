"""NXCloud's signed callbacks: the same rule as our calls (``signing``), checked over the raw
body as it arrived, read in chunks so a large body is never held whole to be checked.

NXCloud sends ``accesskey``, ``action``, ``biztype``, ``ts`` and ``sign`` (and optionally
``algorithm``); the string to sign is built from them exactly as for our requests. A missing
header, another access key, a ``ts`` outside ±60 s or a sign that differs is refused; the sign is
compared in constant time. A redelivery is signed anew (new ``ts``), so a replay of a captured
callback is good only within the window, and is then deduplicated like any redelivery.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from ..nxcloud.redact import hide
from ..nxcloud.signing import SignDigest

#: How far ``ts`` may be from our clock, as NXCloud allows for our calls.
TS_WINDOW_MS = 60_000
#: Our header name -> NXCloud's spelling on callbacks (HTTP header names are case-insensitive).
SIGNED = {"accessKey": "accesskey", "action": "action", "bizType": "biztype", "ts": "ts"}


class CallbackSignature:
    """The sign of one callback, computed while its body is read; ``problem()`` says what is wrong.

    ``feed`` every chunk of the body in order, then ``problem()``: "" when the callback is signed
    by NXCloud with our access key and secret within the window, else why not (for the log)."""

    def __init__(
        self, headers: Mapping[str, str], *, access_key: str, access_secret: str, now_ms: int
    ) -> None:
        self._secret = hide(access_secret)
        self._values = {name: headers.get(header) or "" for name, header in SIGNED.items()}
        self._sign = hide(headers.get("sign") or "")
        self._problem = self._check_headers(headers, access_key, now_ms)
        algorithm = headers.get("algorithm") or "md5"
        self._digest: SignDigest | None = None
        if not self._problem:
            try:
                self._digest = SignDigest(self._values, algorithm)
            except ValueError:
                self._problem = "unknown algorithm"

    def _check_headers(self, headers: Mapping[str, str], access_key: str, now_ms: int) -> str:
        missing = [header for header in (*SIGNED.values(), "sign") if not headers.get(header)]
        if missing:
            return "missing " + ", ".join(missing)
        given = self._values["accessKey"].encode("utf-8", "backslashreplace")
        if not access_key or not hmac.compare_digest(given, access_key.encode("utf-8")):
            return "another access key"
        ts = self._values["ts"]
        if not (ts.isascii() and ts.isdigit() and len(ts) <= 15) or abs(int(ts) - now_ms) > TS_WINDOW_MS:
            return "ts outside the window"
        return ""

    def header_problem(self) -> str:
        """What is wrong with the headers alone ("" if nothing): known before the body is read."""
        return self._problem

    def feed(self, chunk: bytes) -> None:
        if self._digest is not None:
            self._digest.feed(chunk)

    def problem(self) -> str:
        if self._problem or self._digest is None:
            return self._problem
        expected = self._digest.hexdigest(self._secret).encode("ascii")
        if not hmac.compare_digest(expected, self._sign.lower().encode("utf-8", "backslashreplace")):
            return "forged"
        return ""
