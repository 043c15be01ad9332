"""The API object: routes, error handlers (everything is problem details) and the document.

``build_api()`` makes one; ``urls`` serves the one built with ``API_AUTHENTICATION``. The
OpenAPI document is django-ninja's, with the problem responses given their real media type
(``application/problem+json``) and the 429s their ``Retry-After`` header, paths from the API's
root and the root in ``servers`` (so the committed document and the served one are the same
where the API is mounted at ``/onboarding/api/``), the session's CSRF token declared beside its
cookie, and links from a created registration to what can be done with it. It is built once per
process and mount.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.signals import got_request_exception
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from ..unavailable import DATABASE_DOWN, database_down
from . import problems, resources, session
from .auth import SAFE_METHODS, SessionAuth, configured_auth

#: Django's own logger for a request that failed: the host's error mails and trackers see it,
#: with the request (so the filter ``reports.safe_reports`` puts on it applies).
request_logger = logging.getLogger("django.request")

TITLE = "django-nxwa-onboarding"
#: The API's version (not the package's): it changes only when a client would have to.
VERSION = "1"
NAMESPACE = "nxwa_onboarding_api"
PROBLEM_REF = "#/components/schemas/ProblemOut"


#: Responses' descriptions from RFC 9110, not from the running Python's ``http.HTTPStatus``
#: (Python 3.13 renamed 422 "Unprocessable Entity" to "Unprocessable Content"): the document is
#: the same on every supported Python.
PHRASES = {422: "Unprocessable Content", 413: "Content Too Large"}


def with_fixed_phrases(schema: Any) -> Any:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                phrase = PHRASES.get(int(status)) if str(status).isdigit() else None
                if phrase is not None:
                    response["description"] = phrase
    return schema


LICENSE = {"name": "MIT", "identifier": "MIT"}
TAGS = [
    {"name": "registrations", "description": "A business's WhatsApp number, from its code to registered."},
    {"name": "session", "description": "Signing in and out, for clients of the session cookie."},
]
#: What a client can do with the registration a create answers (``$response.body#/id``).
REGISTRATION_LINKS = {
    "get_registration": "Read it again.",
    "check_code": "Submit the code received.",
    "send_code": "Ask for a new code.",
    "refresh": "Poll until it is done.",
}
LINKED_RESPONSES = {("create_registration", "201"), ("get_registration", "200")}
CSRF_HEADER = "CSRFToken"
CSRF_COOKIE = "CSRFCookie"


class OnboardingAPI(NinjaAPI):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._documents: dict[str, Any] = {}
        self._documents_lock = threading.Lock()

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: Any = None) -> Any:
        """The document for the API mounted at ``path_prefix`` (default: where it is served),
        built on first use and kept: it depends only on the code and the settings read at
        startup. Callers must not change it (``document`` returns a copy)."""
        root = self.get_root_path(path_params or {}) if path_prefix is None else path_prefix
        found = self._documents.get(root)
        if found is None:
            with self._documents_lock:
                found = self._documents.get(root)
                if found is None:
                    found = self._documents[root] = self.build_document(root)
        return found

    def build_document(self, root: str) -> Any:
        schema = super().get_openapi_schema(path_prefix="/")  # paths from the API's root
        schema = with_fixed_phrases(with_problem_media_type(schema))
        schema["servers"] = [{"url": root.rstrip("/") or "/", "description": "Where the API is mounted."}]
        schema["info"]["license"] = LICENSE
        schema["tags"] = [tag for tag in TAGS if any_tagged(schema, tag["name"])]
        with_links(schema)
        with_csrf(schema)
        return json.loads(json.dumps(schema))  # plain JSON types, as served

    def get_openapi_operation_id(self, operation: Any) -> str:
        return str(operation.view_func.__name__)


def document(api: NinjaAPI) -> Any:
    """The OpenAPI document as served where ``api`` is mounted (paths from its root, the root in
    ``servers``): what ``openapi.json`` in this package holds, for ``/onboarding/api/``."""
    return json.loads(json.dumps(api.get_openapi_schema()))  # a copy


def operations_of(schema: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        (method, operation)
        for operations in schema.get("paths", {}).values()
        for method, operation in operations.items()
    ]


def any_tagged(schema: Any, tag: str) -> bool:
    return any(tag in operation.get("tags", ()) for _method, operation in operations_of(schema))


def with_links(schema: Any) -> None:
    """OpenAPI links from a registration's answers to the operations on it (clients and
    schemathesis' stateful runs follow them)."""
    ids = {operation.get("operationId") for _method, operation in operations_of(schema)}
    for _method, operation in operations_of(schema):
        for status, response in operation.get("responses", {}).items():
            if (operation.get("operationId"), str(status)) in LINKED_RESPONSES:
                response["links"] = {
                    target: {
                        "operationId": target,
                        "parameters": {"public_id": "$response.body#/id"},
                        "description": description,
                    }
                    for target, description in REGISTRATION_LINKS.items()
                    if target in ids
                }


def csrf_header_name() -> str:
    """``X-CSRFToken`` of Django's ``HTTP_X_CSRFTOKEN`` (the setting names the WSGI key)."""
    name = str(settings.CSRF_HEADER_NAME)
    if name == "HTTP_X_CSRFTOKEN":
        return "X-CSRFToken"
    return "-".join(part.capitalize() for part in name.removeprefix("HTTP_").split("_"))


def with_csrf(schema: Any) -> None:
    """The session's CSRF token as security schemes beside the session cookie: the header on
    every unsafe request, and the cookie Django compares it with. Every operation says what it
    needs (``[]``: nothing)."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    session_schemes = [
        name
        for name, scheme in schemes.items()
        if scheme.get("in") == "cookie" and scheme.get("name") == settings.SESSION_COOKIE_NAME
    ]
    for name in session_schemes:
        schemes[name]["description"] = (
            "Django's session cookie, set by POST /session (or the host's own sign-in); unsafe "
            "requests also send the CSRF token."
        )
    if session_schemes:
        schemes[CSRF_HEADER] = {
            "type": "apiKey",
            "in": "header",
            "name": csrf_header_name(),
            "description": (
                "The CSRF token (GET or POST /session returns it as csrf_token; it is the "
                "csrftoken cookie's value), on every POST and DELETE of a session. Over HTTPS, "
                "Django also wants a Referer or an Origin of a trusted origin."
            ),
        }
        csrf: dict[str, list[str]] = {CSRF_HEADER: []}
        if not settings.CSRF_USE_SESSIONS:
            schemes[CSRF_COOKIE] = {
                "type": "apiKey",
                "in": "cookie",
                "name": settings.CSRF_COOKIE_NAME,
                "description": "Set by any GET of a session; sent back as it is.",
            }
            csrf[CSRF_COOKIE] = []
    for method, operation in operations_of(schema):
        unsafe = method.upper() not in SAFE_METHODS
        requirements = operation.get("security")
        if requirements is None:
            # No authentication: signing in, which is CSRF-protected like Django's login form.
            operation["security"] = [dict(csrf)] if unsafe and session_schemes else []
        elif unsafe:
            operation["security"] = [
                {**requirement, **csrf} if set(requirement) & set(session_schemes) else requirement
                for requirement in requirements
            ]


def with_problem_media_type(schema: Any) -> Any:
    """Problem responses as ``application/problem+json``; 429s with ``Retry-After``."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                body = content.get("application/json")
                if body is not None and body.get("schema", {}).get("$ref") == PROBLEM_REF:
                    response["content"] = {problems.MEDIA_TYPE: body}
                if str(status) == "429":
                    response["headers"] = {
                        "Retry-After": {
                            "description": "Seconds until trying again can succeed.",
                            "schema": {"type": "integer", "minimum": 1},
                        }
                    }
    return schema


def field_of(error: dict[str, Any]) -> str:
    """``phone_number`` of ninja's ``("body", "payload", "phone_number")``; ``body`` for the body."""
    names = [str(part) for part in error.get("loc", ())[2:]]
    return ".".join(names) or "body"


def field_error(error: dict[str, Any]) -> dict[str, str]:
    field = field_of(error)
    kind = str(error.get("type", "invalid"))
    if field == "body":
        detail = _("Send a JSON object.")
    elif kind == "missing":
        detail = _("This field is required.")
    elif field == "method":
        detail = _("Choose SMS or a voice call.")
    else:
        detail = _("Enter a valid value.")
    return {"field": field, "detail": detail, "code": kind}


# django-ninja types a handler's exception as "the class or an instance": they are instances.


def on_problem(request: HttpRequest, exc: Any) -> HttpResponse:
    assert isinstance(exc, problems.Problem)
    return exc.response()


def on_not_found(request: HttpRequest, exc: Any) -> HttpResponse:
    return problems.not_found().response()


def on_validation_error(request: HttpRequest, exc: Any) -> HttpResponse:
    assert isinstance(exc, ValidationError)
    if any(error.get("loc", ("",))[0] == "path" for error in exc.errors):
        # A malformed id cannot be anyone's registration: the same 404 as for one that is not.
        return problems.not_found().response()
    return problems.invalid([field_error(error) for error in exc.errors]).response()


def on_http_error(request: HttpRequest, exc: Any) -> HttpResponse:
    assert isinstance(exc, HttpError)
    if isinstance(exc, AuthenticationError):
        return problems.unauthenticated().response()
    if exc.status_code == 404:
        return problems.not_found().response()
    return problems.bad_request().response()


def on_too_large(request: HttpRequest, exc: Any) -> HttpResponse:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE (or too many fields): 413, not an error report."""
    return problems.too_large().response()


def on_unreadable_body(request: HttpRequest, exc: Any) -> HttpResponse:
    """A multipart body without its boundary, or otherwise unparsable as a form: 415."""
    return problems.unreadable_body().response()


def on_database_down(request: HttpRequest, exc: Any) -> HttpResponse:
    """The database unreachable (its auth's session read included): 503, not a 500."""
    database_down(request, exc)
    return problems.unavailable().response()


def on_unexpected(request: HttpRequest, exc: Any) -> HttpResponse:
    """What Django does for an uncaught exception (the signal, the ``django.request`` error
    with the request), but answered as problem details: no traceback, at DEBUG on or off."""
    got_request_exception.send(sender=None, request=request)
    request_logger.error(
        "Internal Server Error: %s",
        request.path,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"status_code": 500, "request": request},
    )
    response = problems.server_error().response()
    response._has_been_logged = True  # type: ignore[attr-defined]  # by Django's log_response
    return response


def build_api(
    auth: Callable[[HttpRequest], Any] | None = None, *, namespace: str = NAMESPACE
) -> OnboardingAPI:
    """The API, authenticated by ``auth`` (default: an ``API_AUTHENTICATION`` instance);
    ``namespace``: its URL namespace (another one for a second mount)."""
    api = OnboardingAPI(
        title=TITLE,
        version=VERSION,
        description="The customer onboarding flow as JSON. Errors are RFC 9457 problem details.",
        urls_namespace=namespace,
        # No interactive docs page: django-ninja's loads its assets from a CDN.
        docs_url=None,
        auth=auth or configured_auth(),
    )
    api.add_router("", resources.router)
    if any(isinstance(scheme, SessionAuth) for scheme in api.auth or ()):  # type: ignore[union-attr]
        api.add_router("", session.router)
    api.add_exception_handler(problems.Problem, on_problem)
    api.add_exception_handler(ValidationError, on_validation_error)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(RequestDataTooBig, on_too_large)
    api.add_exception_handler(TooManyFieldsSent, on_too_large)
    api.add_exception_handler(MultiPartParserError, on_unreadable_body)
    for error in DATABASE_DOWN:
        api.add_exception_handler(error, on_database_down)
    api.add_exception_handler(Exception, on_unexpected)
    return api
