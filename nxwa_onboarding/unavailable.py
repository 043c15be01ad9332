"""The database unreachable (restarted, failed over, out of connections): a calm 503, not a 500.

``django.db.OperationalError`` and ``InterfaceError`` mean the database could not be reached or
the connection broke (a persistent connection after a restart fails its next query). The app's
customer pages (``unavailable_when_database_down``) answer them with
``nxwa_onboarding/unavailable.html``, status 503 and ``Retry-After``; the JSON API answers the
problem ``urn:nxwa-onboarding:problem:unavailable`` (``api.problems.unavailable``, registered by
``api.app.build_api``) with the same words. Neither shows a traceback, an exception's text or SQL.

The page renders without the database: no request context, so no ``user``, session or messages
(each of which would be read from the database). A transaction the error happened in (a host's
``ATOMIC_REQUESTS``) is marked for rollback, so it is not committed on a dead connection. Django
closes the broken connection at the end of the request (it had an error and is unusable), so the
next request opens a new one: service resumes by itself once the database is back.

Whatever the failure left behind is what the services' write-ahead design allows: a pending row
(evidence of a call that may have been made), never a half-finished one; each row is finished,
and the registration moved, in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connections, transaction
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from django.utils.translation import get_language
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

V = TypeVar("V", bound=Callable[..., Any])

#: The errors that mean "the database cannot be reached now", not a bug.
DATABASE_DOWN: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
TEMPLATE = "nxwa_onboarding/unavailable.html"
#: The problem's name (its type is ``urn:nxwa-onboarding:problem:unavailable``).
PROBLEM = "unavailable"
#: Seconds a client is told to wait: a restart takes seconds, a failover under a minute.
RETRY_AFTER = 60


def title() -> str:
    return _("Service briefly unavailable")


def detail() -> str:
    return _("The service is briefly unavailable. Please try again in a minute.")


#: SQLSTATEs of an ``OperationalError`` that mean the server is gone or refusing connections:
#: connection exceptions (class 08), shutdowns, "cannot connect now", too many connections.
OUTAGE_STATES = ("57P01", "57P02", "57P03", "53300", "53000")


def is_outage(err: Exception) -> bool:
    """Whether ``err`` means the database cannot be reached, rather than an error of a working
    one (a deadlock, a statement timeout, a lock not granted: SQLite's "database is locked")."""
    if isinstance(err, InterfaceError):
        return True
    cause = err.__cause__
    state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if state:
        return str(state).startswith("08") or state in OUTAGE_STATES
    return "locked" not in str(err).lower()


def database_down(request: HttpRequest, err: Exception) -> None:
    """What every face does with the error: log it and make sure no open transaction commits
    after it. An outage is one WARNING line (no traceback); any other database error (a
    deadlock, a statement timeout) is an ERROR with its traceback: a bug or a load problem to
    look at, even though the customer gets the same calm answer."""
    if is_outage(err):
        logger.warning("database unavailable for %s %s: %s", request.method, request.path, type(err).__name__)
    else:
        logger.error(
            "database error for %s %s: %s", request.method, request.path, type(err).__name__, exc_info=err
        )
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            transaction.set_rollback(True, using=connection.alias)


def page() -> HttpResponse:
    """The 503 page: rendered without a request, so nothing on it can reach for the database."""
    html = render_to_string(TEMPLATE, {"retry_after": RETRY_AFTER, "detail": detail()})
    response = HttpResponse(html, status=503, headers={"Content-Language": get_language() or "en"})
    response["Retry-After"] = str(RETRY_AFTER)
    add_never_cache_headers(response)
    return response


def unavailable_when_database_down(view: V) -> V:
    """Decorate a page: the database unreachable while it runs (its login check included) is the
    503 page. Put it below ``never_cache``/``safe_reports`` and above ``login_required``."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return view(request, *args, **kwargs)
        except DATABASE_DOWN as err:
            database_down(request, err)
            return page()

    return wrapper  # type: ignore[return-value]
