"""Error reports of the app's own pages: what ``sensitive_post_parameters`` hides stays hidden
with DEBUG on too.

Django's ``SafeExceptionReporterFilter`` is active only while ``DEBUG`` is off, so at DEBUG on the
technical 500 page shows a posted verification code and the locals of ``sensitive_variables``
frames. ``request.exception_reporter_filter`` is Django's documented per-request hook: the app's
views set it to ``AlwaysSafeReports``, active whatever ``DEBUG`` says. Settings are cleansed either
way (``ACCESS_SECRET`` and ``ACCESS_KEY`` match Django's hidden-settings pattern).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

V = TypeVar("V", bound=Callable[..., Any])


class AlwaysSafeReports(SafeExceptionReporterFilter):
    """Django's filter, active at DEBUG on as well as off."""

    def is_active(self, request: HttpRequest | None) -> bool:
        return True


#: Stateless: one instance serves every request.
FILTER = AlwaysSafeReports()


def safe_reports(view: V) -> V:
    """Have the reports of errors raised in ``view`` filtered at any ``DEBUG`` (for a method,
    wrap it with ``django.utils.decorators.method_decorator``)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        request.exception_reporter_filter = FILTER
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
