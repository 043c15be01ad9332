"""NXCloud's request signature.

The string to sign is ``accessKey=..&action=..&bizType=..&ts=..`` (ASCII order of the names),
then ``&body=<exact body text>`` when there is a body, then ``&accessSecret=<secret>``; the sign
is the lowercase hex digest of its UTF-8 bytes. It is a plain digest, not an HMAC: NXCloud's
scheme, used only for outbound calls (and by the sandbox, which plays NXCloud).

No local here holds the secret, the body, the string to sign or a sign as a plain ``str``: they
are ``Hidden`` (their ``repr`` is a placeholder), so an error report never shows them, whatever
``DEBUG`` says. No ``sensitive_variables`` on purpose: its wrapper's frame would hold the
arguments as the caller passed them, and Django shows that frame's locals when DEBUG is on.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from .redact import hide

SIGNED_HEADERS = ("accessKey", "action", "bizType", "ts")
ALGORITHMS: dict[str, Callable[[bytes], Any]] = {
    "md5": hashlib.md5,
    "sha256": hashlib.sha256,
}


class SignDigest:
    """The sign rule, fed in pieces: the signed headers first, then the body as it arrives (so a
    large callback body is never held whole to be checked), then the secret. ``compute_sign``
    (our calls, the sandbox) and the webhooks' ``CallbackSignature`` both use it: one rule.

    The digest object holds the secret's bytes once ``hexdigest`` ran, never a ``str`` of them."""

    def __init__(self, headers: Mapping[str, str], algorithm: str = "md5") -> None:
        try:
            self._digest = ALGORITHMS[algorithm.lower()](b"")
        except KeyError:
            raise ValueError(f"unknown sign algorithm {algorithm!r}") from None
        self._digest.update("&".join(f"{name}={headers[name]}" for name in sorted(SIGNED_HEADERS)).encode())
        self._empty = True

    def feed(self, chunk: bytes) -> None:
        """The next piece of the exact body bytes (nothing, for a request without a body)."""
        if not chunk:
            return
        if self._empty:
            self._digest.update(b"&body=")
            self._empty = False
        self._digest.update(chunk)

    def hexdigest(self, access_secret: str) -> str:
        """The sign: the lowercase hex digest once the secret is appended (call once)."""
        self._digest.update(("&accessSecret=" + hide(access_secret)).encode("utf-8"))
        return str(self._digest.hexdigest())


def compute_sign(headers: Mapping[str, str], body: str, access_secret: str, algorithm: str = "md5") -> str:
    """Return the ``sign`` header for ``headers`` (other keys ignored) and the exact ``body`` text."""
    body, access_secret = hide(body), hide(access_secret)
    digest = SignDigest(headers, algorithm)
    digest.feed(body.encode("utf-8"))
    return digest.hexdigest(access_secret)


def verify_sign(
    headers: Mapping[str, str], body: str, access_secret: str, sign: str, algorithm: str = "md5"
) -> bool:
    """Constant-time comparison of ``sign`` with the one computed for this request.

    ``sign`` may come from an untrusted caller: compared as bytes, because ``compare_digest``
    raises ``TypeError`` on a ``str`` with non-ASCII characters.
    """
    body, access_secret, sign = hide(body), hide(access_secret), hide(sign)
    expected = hide(compute_sign(headers, body, access_secret, algorithm))
    return hmac.compare_digest(expected.encode("ascii"), sign.lower().encode("utf-8", "backslashreplace"))
