"""OpenTelemetry spans: one per NXCloud call, per following step, per task.

Uses the ``opentelemetry-api`` package only (the optional ``tracing`` extra): with no SDK
configured by the host every span is OpenTelemetry's own no-op, and without the package at all
these helpers do nothing. A leaf module: it imports nothing of the app's models, so the client
can use it.

A call's span carries the stable HTTP semantic conventions (``http.request.method``,
``server.address``, ``server.port``, ``http.response.status_code``, ``error.type``) and NXCloud's
result code (``nxcloud.result_code``). Never a value that is secret or personal: not the code, the
sign, the access secret, an app key, a phone number or a message NXCloud wrote (which may echo
them); exceptions are not recorded as events (their text and stack would be), only their type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from .. import __version__

try:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError:  # pragma: no cover - the suite installs it
    trace = None  # type: ignore[assignment]

TRACER_NAME = "nxwa_onboarding"
AttributeValue = str | bool | int | float

P = ParamSpec("P")
R = TypeVar("R")


class _NoSpan:
    """What the helpers hand out when opentelemetry-api is not installed."""

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        pass

    def is_recording(self) -> bool:
        return False


NO_SPAN = _NoSpan()


@contextmanager
def span(
    name: str, attributes: Mapping[str, AttributeValue] | None = None, *, client: bool = False
) -> Iterator[Any]:
    """A span named ``name`` around the block (the current one inside it). An exception leaving
    the block marks it as an error with ``error.type`` (the exception's class), nothing more."""
    if trace is None:
        yield NO_SPAN
        return
    tracer = trace.get_tracer(TRACER_NAME, __version__)
    kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
    with tracer.start_as_current_span(
        name,
        kind=kind,
        attributes=dict(attributes or {}),
        record_exception=False,  # an event would carry the exception's text and stack
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as err:
            current.set_attribute("error.type", type(err).__qualname__)
            current.set_status(Status(StatusCode.ERROR))
            raise


def traced(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the function in a span named ``name`` (its arguments are not recorded)."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with span(name):
                return function(*args, **kwargs)

        return wrapper

    return decorate


def current_span() -> Any:
    """The current span (a no-op one outside any), to add attributes to."""
    if trace is None:  # pragma: no cover - the suite installs it
        return NO_SPAN
    return trace.get_current_span()


def failed(target: Any, error_type: str) -> None:
    """Mark ``target`` (a span) as failed: ``error.type`` and the error status."""
    if trace is None or not target.is_recording():
        return
    target.set_attribute("error.type", error_type)
    target.set_status(Status(StatusCode.ERROR))


def server_attributes(base_url: str) -> dict[str, AttributeValue]:
    """``server.address`` and ``server.port`` of NXCloud's base URL (never its user or path)."""
    parts = urlsplit(base_url)
    found: dict[str, AttributeValue] = {"server.address": parts.hostname or ""}
    try:
        port = parts.port
    except ValueError:
        port = None
    found["server.port"] = port or (443 if parts.scheme == "https" else 80)
    return found


class CallSpan:
    """What the transport reports of one send to its span (a hook that never raises)."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def ended(self, http_status: int | None, result_code: int | None, failure: str) -> None:
        """The answer's HTTP status and result code; or why there was no usable answer
        (``transport.describe``'s fixed phrases: "read timeout: no answer in time"...)."""
        if http_status is not None:
            self.target.set_attribute("http.response.status_code", http_status)
        if result_code is not None:
            self.target.set_attribute("nxcloud.result_code", result_code)
        if failure:
            failed(self.target, failure)
        elif result_code not in (None, 0):
            failed(self.target, f"nxcloud.result_code.{result_code}")


@contextmanager
def nxcloud_call(action: str, url: str) -> Iterator[CallSpan]:
    """The span of one send to NXCloud: ``nxcloud <action>``, a client span, POST. A call the
    client tries again (a connection never made, an expired timestamp) has a span per send, as
    OpenTelemetry's HTTP conventions have it."""
    attributes: dict[str, AttributeValue] = {
        "http.request.method": "POST",
        **server_attributes(url),
        "nxcloud.action": action,
    }
    with span(f"nxcloud {action}", attributes, client=True) as target:
        yield CallSpan(target)
