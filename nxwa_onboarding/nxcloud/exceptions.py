"""The app's exceptions.

``OnboardingError`` is the base of everything an NXCloud call can raise. The configuration error
subclasses ``ImproperlyConfigured`` and sits outside that base on purpose: it is the deployer's
problem, not a runtime outcome. No exception's text carries the secret, a sign or a code.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

AUTH_CODES = frozenset({1001, 1002, 1003, 1004, 1005})
PARAMETER_CODES = frozenset({9000})
NOT_INTEGRATOR_CODES = frozenset({9007})


class OnboardingError(Exception):
    """Base for errors raised while talking to NXCloud."""


class NXCloudConfigurationError(ImproperlyConfigured):
    """NXWA_ONBOARDING is missing a required key or has an invalid value."""


class NXCloudError(OnboardingError):
    """NXCloud answered with a result code other than 0."""

    def __init__(self, code: int, message: str, action: str, http_status: int | None = 200) -> None:
        self.code = code
        self.message = message
        self.action = action
        self.http_status = http_status
        super().__init__(code, message, action, http_status)

    def __str__(self) -> str:
        return f"NXCloud {self.action} answered {self.code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"action={self.action!r}, http_status={self.http_status!r})"
        )


class NXCloudAuthError(NXCloudError):
    """1001-1005: a header, the signature, the timestamp or the access key was refused."""


class NXCloudParameterError(NXCloudError):
    """9000: a required body parameter was missing."""


class NXCloudNotIntegratorError(NXCloudError):
    """9007: the access key does not belong to an integrator."""


class NXCloudBusinessError(NXCloudError):
    """-1, 9001 and every other code: NXCloud (or Meta behind it) refused the request."""


class TransportError(OnboardingError):
    """No usable answer: network failure, timeout, non-200 status or an unreadable body.

    ``sent`` is False only when the connection was never established, so NXCloud cannot have
    seen the request; otherwise the outcome of a non-idempotent call is unknown.
    """

    def __init__(self, action: str, reason: str, *, sent: bool, http_status: int | None = None) -> None:
        self.action = action
        self.reason = reason
        self.sent = sent
        self.http_status = http_status
        super().__init__(action, reason, sent, http_status)

    def __str__(self) -> str:
        status = f" (HTTP {self.http_status})" if self.http_status is not None else ""
        where = "may have reached NXCloud" if self.sent else "never reached NXCloud"
        return f"NXCloud {self.action}: {self.reason}{status}; the request {where}"

    def __reduce__(self) -> tuple[Any, ...]:
        # ``sent`` is keyword-only, so the default (``cls(*args)``) cannot rebuild it: pickling
        # (a task queue, a parallel test runner) would fail.
        return (_rebuild_transport_error, (type(self), self.action, self.reason, self.sent, self.http_status))

    def __repr__(self) -> str:
        return (
            f"TransportError(action={self.action!r}, reason={self.reason!r}, sent={self.sent!r}, "
            f"http_status={self.http_status!r})"
        )


def _rebuild_transport_error(
    cls: type[TransportError], action: str, reason: str, sent: bool, http_status: int | None
) -> TransportError:
    return cls(action, reason, sent=sent, http_status=http_status)


def error_for_code(code: int, message: str, action: str, http_status: int | None = 200) -> NXCloudError:
    """Map an NXCloud result code to the matching exception class."""
    if code in AUTH_CODES:
        cls: type[NXCloudError] = NXCloudAuthError
    elif code in PARAMETER_CODES:
        cls = NXCloudParameterError
    elif code in NOT_INTEGRATOR_CODES:
        cls = NXCloudNotIntegratorError
    else:
        cls = NXCloudBusinessError
    return cls(code, message, action, http_status)


class InvalidStateError(OnboardingError):
    """The registration is not in a state that allows this step (e.g. createClient before verify)."""


class SetupLimitError(InvalidStateError):
    """createClient refused before it was sent: Meta's registration budget for the number is spent
    (10 requests in a moving 72 hours) or Meta locked it (133016). ``until``: when setup can be
    tried again."""

    def __init__(self, message: str, until: Any) -> None:
        super().__init__(message)
        self.until = until

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.until))
