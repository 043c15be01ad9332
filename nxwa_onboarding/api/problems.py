"""RFC 9457 problem details: every error the API answers, each with a stable ``type``.

``type`` is a URN that names the kind of problem and never changes (``urn:nxwa-onboarding:
problem:refused:cooldown``); ``title`` is the kind in the request's language, ``detail`` this
occurrence in plain words (the same words as the customer pages), never a result code or a
message of NXCloud's. Extension members: ``retry_at`` (when trying again can succeed),
``attempts_left`` (tries left on the current code), ``errors`` (the fields that are not valid)
and ``registration`` (the caller's own registration of a number they tried to add again).
Refusals that only need waiting are 429 with ``Retry-After``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from .. import unavailable as database_unavailable
from ..choices import Failure, RefusalReason
from ..texts import customer_configuration_text, refusal_text

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:nxwa-onboarding:problem:"

#: Refusals that only need waiting: answered 429 with ``Retry-After``.
LIMITS = (
    RefusalReason.IP_LIMIT,
    RefusalReason.COOLDOWN,
    RefusalReason.DAILY_CAP,
    RefusalReason.OWNER_LIMIT,
    RefusalReason.IP_SEND_LIMIT,
    RefusalReason.GLOBAL_LIMIT,
    RefusalReason.SEND_BUDGET,
    RefusalReason.FAILURE_LIMIT,
)
#: Every other refusal is 409 (the registration's state does not allow it now), but these.
REFUSAL_STATUS: dict[str, int] = {
    **{reason: 429 for reason in LIMITS},
    RefusalReason.MALFORMED: 422,
    RefusalReason.LANDLINE_SMS: 422,
    RefusalReason.NO_ADDRESS: 400,
    RefusalReason.METHOD_POLICY: 422,
    RefusalReason.PREFIX_BLOCKED: 403,  # not a wait: a person has to lift it
    RefusalReason.PAUSED: 503,  # ours, like a configuration failure; ``retry_at`` says when
}
#: When a limit gives no end (it always should), or NXCloud is unreachable: "in a minute".
DEFAULT_RETRY_SECONDS = 60


#: Every kind of problem but the refusals and the failures (one per ``RefusalReason`` and per
#: ``Failure``): ``types()`` lists them all, as the OpenAPI document's enum of ``type`` does, so
#: a client can switch on them. A new kind is added here (tests/api/test_document.py reads every
#: ``Problem(...)`` in the API for a name missing from this list).
NAMES = (
    "bad-request",
    "unauthenticated",
    "csrf",
    "login-failed",
    "not-found",
    "method-not-allowed",
    "invalid",
    "cannot-withdraw",
    "too-large",
    "unsupported-media-type",
    "code-rejected",
    "code-not-sent",
    "refused",
    database_unavailable.PROBLEM,
    "server-error",
)


def refusal_types() -> list[str]:
    """The ``type`` of a refusal, for each reason (and for one whose reason is not known)."""
    return [refusal_type(reason) for reason in RefusalReason.values] + [type_uri("refused")]


def types() -> list[str]:
    """Every ``type`` a problem of this API can have."""
    named = [type_uri(name) for name in (*NAMES, *ADDING_TYPES.values())]
    return sorted({*named, *refusal_types(), *(failure_type(kind) for kind in Failure.values)})


def type_uri(name: str) -> str:
    return TYPE_PREFIX + name


def refusal_type(reason: str) -> str:
    return type_uri(f"refused:{reason}")


def failure_type(kind: str) -> str:
    return type_uri(f"failure:{kind}")


def retry_seconds(until: datetime | None) -> int:
    """``Retry-After``: whole seconds (rounded up, at least 1) until ``until``."""
    if until is None:
        return DEFAULT_RETRY_SECONDS
    return max(math.ceil((until - timezone.now()).total_seconds()), 1)


class Problem(Exception):
    """An error answered as problem details; raise it anywhere in the API (auth included)."""

    def __init__(
        self,
        status: int,
        name: str,
        title: str,
        detail: str,
        *,
        retry_after: int | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(name)
        self.status = status
        self.type = type_uri(name)
        self.title = title
        self.detail = detail
        self.retry_after = retry_after
        self.extensions = {key: value for key, value in extensions.items() if value is not None}

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extensions,
        }

    def response(self, headers: dict[str, str] | None = None) -> HttpResponse:
        response = HttpResponse(
            json.dumps(self.as_dict(), cls=DjangoJSONEncoder, ensure_ascii=False),
            status=self.status,
            content_type=f"{MEDIA_TYPE}; charset=utf-8",
            headers={"Content-Language": get_language() or "en", **(headers or {})},
        )
        if self.retry_after is not None:
            response["Retry-After"] = str(self.retry_after)
        add_never_cache_headers(response)
        return response


def refused(reason: str, until: datetime | None = None, *, attempts_left: int | None = None) -> Problem:
    """A refusal by the rules (no call was made): why, and until when."""
    status = REFUSAL_STATUS.get(reason, 409)
    known = reason in RefusalReason.values
    return Problem(
        status,
        f"refused:{reason}" if known else "refused",
        str(RefusalReason(reason).label) if known else _("Refused"),
        refusal_text(reason, until),
        retry_after=retry_seconds(until) if status == 429 else None,
        retry_at=until,
        attempts_left=attempts_left,
    )


def failed(kind: str, detail: str | None = None) -> Problem:
    """A call that did not succeed, by ``Failure`` kind: ours, unreachable, or maybe sent."""
    if kind == Failure.CONFIGURATION:
        return Problem(
            503,
            f"failure:{kind}",
            _("Cannot continue right now"),
            customer_configuration_text(),
        )
    if kind == Failure.UNREACHABLE:
        return Problem(
            503,
            f"failure:{kind}",
            _("Verification service unreachable"),
            detail or unreachable_text(),
            retry_after=DEFAULT_RETRY_SECONDS,
        )
    return Problem(
        504,
        f"failure:{Failure.MAYBE_SENT}",
        _("No answer in time"),
        detail
        or _("WhatsApp's service did not answer in time. Your number is safe: look again in a minute."),
    )


def unreachable_text() -> str:
    return _(
        "We could not reach WhatsApp's verification service just now. Nothing was used up: "
        "please try again in a minute."
    )


def unauthenticated() -> Problem:
    return Problem(401, "unauthenticated", _("Sign in required"), _("Sign in to use this API."))


def csrf_failed() -> Problem:
    return Problem(
        403,
        "csrf",
        _("CSRF check failed"),
        _("This request needs the CSRF token: send the csrftoken cookie's value in the X-CSRFToken header."),
    )


def not_found() -> Problem:
    return Problem(404, "not-found", _("Not found"), _("There is no registration with this id."))


def invalid(errors: list[dict[str, str]]) -> Problem:
    return Problem(
        422,
        "invalid",
        _("Invalid request"),
        _("Some fields are not valid: see errors."),
        errors=errors,
    )


#: The problem type of each situation a number being added can be refused in (stable names:
#: ``already-onboarding`` is the oldest).
ADDING_TYPES = {
    "taken": "number-taken",
    "open_limit": "open-limit",
    "already_yours": "already-onboarding",
    "already_registered": "already-registered",
}


def adding_refused(decision: Any) -> Problem:
    """A number that was not added (``services.refused_addition``): 409 with the situation's
    title and words; the caller's own registration of the number in ``registration``."""
    own = getattr(decision.registration, "public_id", None)
    return Problem(
        409,
        ADDING_TYPES[decision.situation.value],
        decision.title,
        decision.text,
        registration=own if isinstance(own, UUID) else None,
    )


def cannot_withdraw(detail: str) -> Problem:
    """Only a number not yet verified is withdrawn by its customer: staff close the others."""
    return Problem(409, "cannot-withdraw", _("This number cannot be withdrawn"), detail)


def bad_request() -> Problem:
    return Problem(400, "bad-request", _("Bad request"), _("The request could not be read."))


def too_large() -> Problem:
    return Problem(
        413, "too-large", _("Request too large"), _("The request's body is larger than this API accepts.")
    )


def unreadable_body() -> Problem:
    return Problem(
        415,
        "unsupported-media-type",
        _("Unsupported body"),
        _("Send the body as JSON (Content-Type: application/json)."),
    )


def no_such_path() -> Problem:
    return Problem(404, "not-found", _("Not found"), _("There is nothing at this address."))


def method_not_allowed() -> Problem:
    return Problem(
        405, "method-not-allowed", _("Method not allowed"), _("This address does not take that method.")
    )


def unavailable() -> Problem:
    """The database unreachable (``nxwa_onboarding.unavailable``): the customer pages' words."""
    return Problem(
        503,
        database_unavailable.PROBLEM,
        database_unavailable.title(),
        database_unavailable.detail(),
        retry_after=database_unavailable.RETRY_AFTER,
    )


def login_failed() -> Problem:
    return Problem(
        400,
        "login-failed",
        _("Sign-in failed"),
        _("The username or the password is not right, or this account cannot sign in."),
    )


def server_error() -> Problem:
    return Problem(
        500,
        "server-error",
        _("Internal error"),
        _("Something went wrong on our side. Please try again later."),
    )
