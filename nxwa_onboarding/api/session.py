"""Signing in and out as JSON, for clients of the session-authenticated API (``SessionAuth``).

``GET session`` tells who is signed in and sets the ``csrftoken`` cookie, returning its value;
``POST session`` signs in with a username and a password (CSRF-protected like Django's login
form, so the token from the GET goes in ``X-CSRFToken``) and returns the new token, which sign-in
rotates; ``DELETE session`` signs out. Generated clients take the whole flow from the OpenAPI
document this way instead of posting Django's HTML login form.

The shape follows django-allauth's headless API (``GET``/``POST``/``DELETE`` on one session
resource, the CSRF token from a first ``GET``) without depending on it: a host that runs
allauth headless can send its clients there instead, since both end in the same Django session.

Sign-in goes through ``django.contrib.auth.authenticate`` with the request, so the host's
backends apply, with their lockouts (django-axes and the like) and the ``user_login_failed``
signal; a failure says only that the credentials were not accepted.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, get_user_model, login, logout
from django.http import HttpRequest
from django.middleware.csrf import get_token
from ninja import Router
from ninja import Status as Answer
from ninja.utils import check_csrf

from . import problems
from .auth import SessionAuth
from .schemas import LoginIn, ProblemOut, SessionOut

router = Router(tags=["session"])


def session_out(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    username = user.get_username() if user is not None and user.is_authenticated else None
    return {"authenticated": username is not None, "username": username, "csrf_token": get_token(request)}


@router.get("session", auth=None, response={200: SessionOut, 500: ProblemOut, 503: ProblemOut})
def get_session(request: HttpRequest) -> Any:
    """Who is signed in (``authenticated`` false if no one); sets the ``csrftoken`` cookie and
    returns its value, for the sign-in that follows."""
    return session_out(request)


@router.post(
    "session",
    auth=None,
    response={200: SessionOut, frozenset({400, 403, 422, 500, 503}): ProblemOut},
)
def create_session(request: HttpRequest, payload: LoginIn) -> Any:
    """Sign in with a username and a password (with the CSRF token of ``GET session`` in
    ``X-CSRFToken``); the answer carries the new CSRF token for the requests that follow."""
    if check_csrf(request) is not None:
        raise problems.csrf_failed()
    credentials = {get_user_model().USERNAME_FIELD: payload.username}
    user = authenticate(request, password=payload.password.get_secret_value(), **credentials)
    if user is None:
        raise problems.login_failed()
    login(request, user)  # a new session key and a new CSRF token
    return Answer(200, session_out(request))


@router.delete(
    "session", auth=SessionAuth(), response={204: None, frozenset({401, 403, 500, 503}): ProblemOut}
)
def delete_session(request: HttpRequest) -> Any:
    """Sign out (with the CSRF token in ``X-CSRFToken``): the session is gone."""
    logout(request)
    return Answer(204, None)
