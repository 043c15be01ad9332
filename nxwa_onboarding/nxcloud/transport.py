"""One signed exchange with NXCloud that never raises: sign, send, read (capped), parse.

Error reports (Django's technical 500 page, its error mails, trackers that capture frame locals)
show the locals of every frame an exception passed through, and of every frame in its
``__cause__``/``__context__`` chain. While a request is signed and sent, frames hold the access
secret, the ``sign`` and a body with the verification code: ours here, and requests', urllib3's
and http.client's below (``headers``, ``body``, the encoded header lines). So ``exchange`` catches
everything and returns an ``Outcome`` holding only what is safe to show; the client raises its
``TransportError``/``NXCloudError`` from a frame that holds none of it, outside any ``except``
block (so no ``__context__``), chained at most to a *detached* copy of the library's error: its
type and text (hidden values blanked), without traceback, chain or prepared request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
from django.views.decorators.debug import sensitive_variables
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError

from nxwa_onboarding.ops.tracing import nxcloud_call

from .exceptions import TransportError
from .list_parsing import STREAMED_ACTIONS, parse_list_envelope
from .redact import Hidden, HiddenBytes, blank_out

#: Bytes read from the network at a time while an answer is capped.
READ_CHUNK = 64 * 1024


class Request:
    """What one call sends, whatever the try: the body (and its bytes) and the values to blank
    out of anything that leaves. Its ``repr`` shows only the action."""

    __slots__ = ("action", "body", "data", "hidden", "url")

    def __init__(self, action: str, url: str, body: str, data: bytes | None, hidden: Iterable[str]) -> None:
        self.action = action
        self.url = url
        self.body = Hidden(body)
        self.data = None if data is None else HiddenBytes(data)
        self.hidden: tuple[Hidden, ...] = tuple(Hidden(value) for value in hidden if value)

    def __repr__(self) -> str:
        return f"<NXCloud {self.action} request>"


@dataclass(frozen=True)
class Outcome:
    """How one send ended. ``code`` is set when an envelope was read (``message`` blanked of the
    hidden values); otherwise ``failure`` says why there is no usable answer and ``sent`` whether
    NXCloud may have seen the request. ``cause`` is a detached copy of the library's error, to
    chain; ``unexpected`` a detached copy of any other error, to raise as it was."""

    http_status: int | None = None
    code: int | None = None
    message: str = ""
    data: Any = field(default=None, repr=False)
    failure: str = ""
    sent: bool = True
    cause: Exception | None = None
    unexpected: Exception | None = None


def parse_envelope(action: str, http_status: int, content: bytes) -> tuple[int, str, Any]:
    """Read NXCloud's ``{"code", "message", "data"}`` envelope.

    Returns ``(code, message, data)`` for a well-formed envelope; raises ``TransportError``
    (``sent=True``) when there is no usable answer. A ``code`` that is not an integer
    (``"0"``, ``0.0``, ``true``) is never taken for success.
    """
    if http_status >= 500:
        raise TransportError(
            action, "NXCloud answered with a server error", sent=True, http_status=http_status
        )
    try:
        payload = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TransportError(action, "the answer is not JSON", sent=True, http_status=http_status) from None
    if not isinstance(payload, dict):
        raise TransportError(action, "the answer is not a JSON object", sent=True, http_status=http_status)
    code = payload.get("code")
    if type(code) is not int:
        raise TransportError(
            action, "the answer has no integer result code", sent=True, http_status=http_status
        )
    if http_status != 200 and code == 0:
        raise TransportError(action, "unexpected HTTP status", sent=True, http_status=http_status)
    message = payload.get("message")
    return code, ("" if message is None else str(message)), payload.get("data")


def never_connected(err: BaseException) -> bool:
    """True only when the TCP connection was never established (refused, connect timeout, DNS)."""
    if isinstance(err, requests.ConnectTimeout):
        return True
    if isinstance(err, requests.ConnectionError) and not isinstance(err, requests.ReadTimeout):
        reason: object = err.args[0] if err.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        return isinstance(reason, NewConnectionError)
    return False


def describe(err: BaseException) -> str:
    """Safe words for a requests error: what kind of failure, never its text."""
    if isinstance(err, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(err, requests.ReadTimeout) or (
        isinstance(err, requests.ConnectionError) and err.args and isinstance(err.args[0], ReadTimeoutError)
    ):
        return "read timeout: no answer in time"
    if never_connected(err):
        return "could not connect"
    if isinstance(err, requests.ConnectionError):
        return "connection dropped before an answer"
    return f"request failed ({type(err).__name__})"


def detach(err: BaseException, hidden: Iterable[str]) -> Exception:
    """A stand-in for ``err``: the same type and text (hidden values blanked), but no traceback,
    no ``__cause__``/``__context__`` and no request (requests' errors carry the prepared one)."""
    try:
        text = blank_out(str(err), hidden)
    except Exception:
        text = "(its text could not be read)"
    try:
        copy = type(err)(text)
    except Exception:
        copy = None
    if not isinstance(copy, Exception):
        copy = RuntimeError(f"{type(err).__name__}: {text}")
    return copy


def answer_deadline(timeout: tuple[float, float]) -> float:
    """Seconds one answer's body may take to arrive in full, once its headers came. The read
    timeout bounds each wait for a byte, not the whole: a body trickling in a byte at a time
    would otherwise hold a worker (and outlive the follower's lease) for as long as it likes."""
    return max(3 * timeout[1], 30.0)


class TooSlow(Exception):
    """The answer's body did not arrive in full within ``answer_deadline``."""


def read_capped(response: requests.Response, limit: int, deadline: float | None = None) -> bytes | None:
    """The answer's body, or None when it is larger than ``limit`` bytes (decoded), read chunk
    by chunk so that a huge body is never held whole; ``TooSlow`` past ``deadline`` (a
    ``time.monotonic()`` value)."""
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        return None
    if response.raw is None:  # an adapter that filled the body in itself (a test double)
        content = response.content
        return content if len(content) <= limit else None
    received = bytearray()
    for chunk in response.iter_content(chunk_size=READ_CHUNK):
        received += chunk
        if len(received) > limit:
            return None
        if deadline is not None and time.monotonic() > deadline:
            raise TooSlow
    return bytes(received)


Signer = Callable[[str, str], dict[str, str]]


@sensitive_variables("request", "headers", "sign", "hidden")
def _exchange(
    session: requests.Session,
    request: Request,
    sign: Signer,
    timeout: tuple[float, float],
    limit: int,
    hidden: list[str],
) -> Outcome:
    headers = sign(request.action, request.body)
    hidden.append(headers.get("sign", ""))
    try:
        response = session.post(
            request.url,
            data=request.data,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )
    except requests.RequestException as err:
        return Outcome(failure=describe(err), sent=not never_connected(err), cause=detach(err, hidden))
    status = response.status_code
    try:
        deadline = time.monotonic() + answer_deadline(timeout)
        content = b"" if status >= 500 else read_capped(response, limit, deadline)
    except requests.RequestException as err:
        return Outcome(status, failure=describe(err), cause=detach(err, hidden))
    except TooSlow:
        return Outcome(status, failure="answer too slow: not in full in time")
    finally:
        if response.raw is not None:
            response.close()  # back to the pool when read to the end, else the socket is dropped
    if content is None:
        return Outcome(status, failure=f"answer too large (over {limit} bytes)")
    parse = parse_list_envelope if request.action in STREAMED_ACTIONS else parse_envelope
    try:
        code, message, data = parse(request.action, status, content)
    except TransportError as err:
        return Outcome(err.http_status, failure=err.reason)
    return Outcome(status, code, blank_out(message, hidden), data)


def exchange(
    session: requests.Session, request: Request, sign: Signer, timeout: tuple[float, float], limit: int
) -> Outcome:
    """Sign ``request`` (``sign(action, body)`` returns the headers), send it, read the answer
    (at most ``limit`` bytes) and parse it. Never raises an ``Exception``."""
    hidden: list[str] = list(request.hidden)  # and the sign, once it is computed
    # One span per send (ops.tracing: the action, the HTTP status, NXCloud's result code; never
    # the body, the sign or the secret); a no-op without opentelemetry-api or an SDK.
    with nxcloud_call(request.action, request.url) as span:
        try:
            outcome = _exchange(session, request, sign, timeout, limit, hidden)
        except Exception as err:  # a bug, or a library error of a kind not foreseen: may have been sent
            reason = f"unexpected error ({type(err).__name__})"
            outcome = Outcome(failure=reason, unexpected=detach(err, hidden))
        span.ended(outcome.http_status, outcome.code, outcome.failure)
    return outcome
