"""Who is calling: Django's session with CSRF by default; ``API_AUTHENTICATION`` for tokens.

``API_AUTHENTICATION`` names a django-ninja authentication class (``HttpBearer``,
``APIKeyHeader`` or any callable class whose instances take the request and return the user,
or None for "not signed in"); it is instantiated without arguments when the API is built. The
user it returns owns what the caller creates and is the only one who sees it. An unsigned
caller gets 401 problem details, never a redirect to a login page.

``authenticate`` must return an authenticated, active user: anything else (the token itself,
as django-ninja's documentation writes it, an inactive user, ``AnonymousUser``) is refused with
401, and the host is told once by an ERROR naming the setting. No caller ever acts as "nobody":
an ownership filter is never ``owner IS NULL``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils.module_loading import import_string
from ninja.security import APIKeyCookie
from ninja.utils import check_csrf

from ..conf import conf
from . import problems

logger = logging.getLogger(__name__)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
#: Whether the host was told that its authentication class returns something else than a user.
_told: set[str] = set()


class SessionAuth(APIKeyCookie):
    """The signed-in user of Django's session; unsafe methods need the CSRF token.

    The user is checked first, so an anonymous caller gets 401 (not a CSRF 403); a safe request
    sets the ``csrftoken`` cookie, so a single-page app's first GET gives it the token to send
    back in ``X-CSRFToken``."""

    param_name: str = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=False)  # checked below, once the user is known

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method in SAFE_METHODS:
            get_token(request)
        elif check_csrf(request) is not None:
            raise problems.csrf_failed()
        return user


def configured_auth() -> Callable[[HttpRequest], Any]:
    """An instance of the ``API_AUTHENTICATION`` class."""
    auth_class = import_string(conf.API_AUTHENTICATION)
    return auth_class()  # type: ignore[no-any-return]


def caller(request: HttpRequest) -> Any:
    """The authenticated, active user the authentication class returned (typed Any:
    AUTH_USER_MODEL varies); anything else is 401 (``problems.unauthenticated``)."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, AbstractBaseUser) and auth.is_authenticated and auth.is_active and auth.pk:
        return auth
    kind = type(auth).__name__
    if not isinstance(auth, AbstractBaseUser) and kind not in _told:
        _told.add(kind)
        # The type only: the value may be the caller's token.
        logger.error(
            "NXWA_ONBOARDING['API_AUTHENTICATION']: authenticate() returned a %s, not a user; "
            "every such caller is refused (401). Return the user who owns the token.",
            kind,
        )
    raise problems.unauthenticated()
