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

from .redact import Hidden, hide

SIGNED_HEADERS = ("accessKey", "action", "bizType", "ts")
ALGORITHMS: dict[str, Callable[[bytes], Any]] = {
    "md5": hashlib.md5,
    "sha256": hashlib.sha256,
}


def _string_to_sign(headers: Mapping[str, str], body: str, access_secret: str) -> Hidden:
    # Kept private on purpose: the result contains the secret and must never be logged.
    signed = "&".join(f"{name}={headers[name]}" for name in sorted(SIGNED_HEADERS))
    return Hidden(signed + ("&body=" + body if body else "") + "&accessSecret=" + access_secret)


def compute_sign(headers: Mapping[str, str], body: str, access_secret: str, algorithm: str = "md5") -> str:
    """Return the ``sign`` header for ``headers`` (other keys ignored) and the exact ``body`` text."""
    body, access_secret = hide(body), hide(access_secret)
    try:
        digest = ALGORITHMS[algorithm.lower()]
    except KeyError:
        raise ValueError(f"unknown sign algorithm {algorithm!r}") from None
    return str(digest(_string_to_sign(headers, body, access_secret).encode("utf-8")).hexdigest())


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
