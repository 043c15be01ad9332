"""Shared helpers for the client tests: a client wired to test credentials, an independent
re-computation of NXCloud's sign from a captured request, and nets that catch every log record
and every exception text so a leak cannot slip past.

``reference_sign`` is written from NXCloud's documentation, not from ``nxwa_onboarding.nxcloud.signing``:
a wire test that recomputed the sign with the code under test could not catch a signing bug.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

import requests
import responses
import urllib3  # noqa: F401  (imported so its loggers exist before a capture starts)
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from responses.registries import FirstMatchRegistry, OrderedRegistry

from harness.loopback import LoopbackNXCloud, Received
from nxwa_onboarding.nxcloud.client import NXCloudClient, build_session

ACCESS_KEY = "AK-test-0001"
#: Must never appear in a log record, an exception's text or a repr.
CANARY_SECRET = "CANARY-secret-9f8e7d6c5b4a"
BASE_URL = "https://api2.nxcloud.com"
PHONE = "8613800138000"
PHONE_MASKED = "*********8000"
#: A verification code as a merchant would type it: must never be logged or put in an exception.
CODE = "482913"

#: Paths from NXCloud's endpoint table (../shared/nxcloud-api.md), spelled out rather than read
#: from ``client.ENDPOINTS`` so that a wrong path in the client fails a test.
PATHS = {
    "login": "/api/wa/integrator/embedded/register/login",
    "createApp": "/api/wa/integrator/embedded/register/createApp",
    "getCode": "/api/wa/integrator/embedded/register/getCode",
    "checkCode": "/api/wa/integrator/embedded/register/checkCode",
    "createClient": "/api/wa/integrator/embedded/register/createClient",
    "phoneList": "/api/wa/integrator/embedded/register/phoneList",
    "getPhone": "/api/wa/getPhone",
}


def url(action: str, base_url: str = BASE_URL) -> str:
    return base_url + PATHS[action]


def envelope(code: Any = 0, message: str = "success", data: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "data": data}


def no_sleep(seconds: float) -> None:
    pass


def make_client(base_url: str = BASE_URL, **kwargs: Any) -> NXCloudClient:
    """A client with the canary secret; backoff sleeps are skipped unless ``sleep=`` is given."""
    kwargs.setdefault("sleep", no_sleep)
    return NXCloudClient(ACCESS_KEY, CANARY_SECRET, base_url=base_url, **kwargs)


class Clock:
    """An injectable ``clock=``: starts at ``start`` (seconds) and moves ``step`` per reading."""

    def __init__(self, start: float = 1_700_000_000.0, step: float = 2.5) -> None:
        self.now = start
        self.step = step
        self.readings: list[float] = []

    def __call__(self) -> float:
        value = self.now
        self.readings.append(value)
        self.now += self.step
        return value


# -- captured requests and their signs --------------------------------------------------------


@dataclass
class Captured:
    """One request as it left the client (``responses``, an adapter) or reached a server."""

    url: str
    headers: CaseInsensitiveDict[str]
    body: bytes
    kwargs: Mapping[str, Any]

    @classmethod
    def from_prepared(cls, request: requests.PreparedRequest, **kwargs: Any) -> Captured:
        body = request.body
        if isinstance(body, str):  # requests never turns bytes into str; a str would be a bug
            raise AssertionError("the client sent a str body: it must send the signed bytes")
        return cls(str(request.url), CaseInsensitiveDict(request.headers), body or b"", kwargs)

    @classmethod
    def from_received(cls, received: Received) -> Captured:
        return cls(received.path, CaseInsensitiveDict(received.headers), received.body, {})


def reference_sign(headers: Mapping[str, str], body: bytes, secret: str, algorithm: str = "md5") -> str:
    """NXCloud's documented sign: ``accessKey=..&action=..&bizType=..&ts=..``, then ``&body=`` and
    the body text exactly as received (skipped when empty), then ``&accessSecret=``; hex digest of
    the UTF-8 bytes."""
    text = "accessKey={}&action={}&bizType={}&ts={}".format(
        headers["accessKey"], headers["action"], headers["bizType"], headers["ts"]
    )
    if body:
        text += "&body=" + body.decode("utf-8")
    text += "&accessSecret=" + secret
    return hashlib.new(algorithm, text.encode("utf-8")).hexdigest()


def assert_signed(request: Captured, secret: str = CANARY_SECRET) -> str:
    """Assert the captured ``sign`` is the one NXCloud computes over the exact received bytes."""
    algorithm = request.headers.get("algorithm", "md5")
    expected = reference_sign(request.headers, request.body, secret, algorithm)
    assert request.headers["sign"] == expected, "sign does not match the bytes that were sent"
    return expected


class RecordingAdapter(HTTPAdapter):
    """Records every request handed to the network, including ones whose connection is refused
    (no server sees those), with the keyword arguments (``timeout``) it was sent with."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.sent: list[Captured] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append(Captured.from_prepared(request, **kwargs))
        return super().send(request, **kwargs)


def recording_session() -> tuple[requests.Session, RecordingAdapter]:
    """The client's own session (``build_session``) with a recording adapter mounted."""
    session = build_session()
    adapter = RecordingAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session, adapter


def start_loopback_on(port: int) -> LoopbackNXCloud:
    """A running ``LoopbackNXCloud`` on a given port: lets a test refuse connections on a port
    first and start answering on it later. Stop it with ``server.__exit__()``."""
    server = LoopbackNXCloud()
    handler = server.server.RequestHandlerClass
    server.server.server_close()
    server.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.server.daemon_threads = True
    server.thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    return server.__enter__()


# -- nets for leaks ---------------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def all_log_records() -> Iterator[list[logging.LogRecord]]:
    """Every record every logger emits at DEBUG and above while the block runs (urllib3 too):
    all levels forced to DEBUG, ``logging.disable`` lifted, non-propagating loggers tapped."""
    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    root = logging.getLogger()
    loggers = [root] + [
        logger for logger in root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    saved_disable = root.manager.disable
    tapped = [logger for logger in loggers if logger is root or not logger.propagate]
    logging.disable(logging.NOTSET)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    for logger in tapped:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in tapped:
            logger.removeHandler(handler)
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled
        logging.disable(saved_disable)


# Attributes every LogRecord has (times, thread and process ids...): not channels for a leak, and
# left out so that a digit code cannot "appear" inside a thread id by chance.
_STANDARD_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


def log_text(records: list[logging.LogRecord]) -> str:
    """Everything a handler could write: the formatted line with its traceback, the raw message
    and arguments, and any ``extra=`` attributes."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = []
    for record in records:
        extra = {key: value for key, value in vars(record).items() if key not in _STANDARD_RECORD_ATTRIBUTES}
        lines.append(f"{formatter.format(record)} {record.msg!r} {record.args!r} {extra!r}")
    return "\n".join(lines)


def exception_text(exc: BaseException) -> str:
    """str, repr and the formatted traceback of ``exc`` and every exception chained to it."""
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts += [str(current), repr(current)]
        pending += [current.__cause__, current.__context__]
    return "\n".join(parts)


def capture_raised(call: Callable[[], object]) -> BaseException:
    """Run ``call`` and return what it raised (failing if it returned)."""
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("expected an exception, the call returned")


@contextmanager
def nxcloud_mock(*, ordered: bool = False, assert_all: bool = True) -> Iterator[responses.RequestsMock]:
    """``responses`` standing in for NXCloud; ``ordered=True`` answers registered responses in
    order (for sequences like 1004-then-0). Read ``captured(rsps)`` inside the block: the mock
    forgets its calls on exit."""
    registry = OrderedRegistry if ordered else FirstMatchRegistry
    with responses.RequestsMock(assert_all_requests_are_fired=assert_all, registry=registry) as rsps:
        yield rsps


def captured(rsps: responses.RequestsMock) -> list[Captured]:
    # responses keeps the keyword arguments (timeout, ...) the adapter was called with.
    return [
        Captured.from_prepared(call.request, **getattr(call.request, "req_kwargs", {})) for call in rsps.calls
    ]


@contextmanager
def open_client(base_url: str = BASE_URL, **kwargs: Any) -> Iterator[NXCloudClient]:
    """``make_client`` whose session (and its pooled sockets) is closed afterwards."""
    client = make_client(base_url, **kwargs)
    try:
        yield client
    finally:
        client.session.close()
