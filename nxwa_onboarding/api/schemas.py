"""The API's typed bodies (django-ninja schemas): what the OpenAPI document is generated from."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from ninja import Field, Schema
from pydantic import AfterValidator, ConfigDict, JsonValue, SecretStr

from ..choices import (
    AccountState,
    Failure,
    Method,
    NameReview,
    RefusalReason,
    RegistrationStatus,
    SendOutcome,
)
from ..codes import MAX_CODE_INPUT
from ..nxcloud.redact import hide
from ..phone import MAX_INPUT_LENGTH
from ..services.situation import Situation
from . import problems

# The document's patterns describe what a client sends in ASCII (up to two spaces, dashes, dots
# or brackets between digits); the server reads more (full-width digits, several separators)
# with the customer pages' forms, and refuses what they refuse with their words, so the patterns
# are documentation only: a string outside them is refused all the same (422).
PHONE_INPUT_PATTERN = r"^\+?\(?[0-9](?:[ ().-]{0,2}[0-9]){5,19}$"
CODE_INPUT_PATTERN = r"^[0-9](?:[ -]?[0-9]){3,7}$"
#: E.164 without and with its plus: what the API answers.
DIGITS_PATTERN = r"^[1-9][0-9]{3,14}$"
E164_PATTERN = r"^\+[1-9][0-9]{3,14}$"
#: Every problem ``type``, and the refusals' (the document's enums).
PROBLEM_TYPES: list[JsonValue] = [*problems.types()]
REFUSAL_TYPES: list[JsonValue] = [*problems.refusal_types()]

# -- requests ------------------------------------------------------------------------------------


class StartIn(Schema):
    # Numbers as people type them, from several countries (each phonenumbers' example mobile):
    # what a client, or a generator of requests, can send as it is.
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"phone_number": number, "method": "sms"}
                for number in (
                    "+86 131 2345 6789",
                    "+44 7400 123456",
                    "+49 1512 3456789",
                    "+55 11 96123-4567",
                    "+91 81234 56789",
                    "+33 6 12 34 56 78",
                )
            ]
        }
    )

    phone_number: str = Field(
        description=(
            "With the country code, typed any way: +86 138 0013 8000, 0086 138-0013-8000 or "
            "8613800138000 (digits without + or 00 are read as if they had a +)."
        ),
        examples=["+86 138 0013 8000"],
        json_schema_extra={"minLength": 6, "maxLength": MAX_INPUT_LENGTH, "pattern": PHONE_INPUT_PATTERN},
    )
    method: Method = Field(Method.SMS, description="How the first code is sent.")


class CodeIn(Schema):
    # Hidden from the moment it is parsed: error reports show a placeholder (``redact``).
    code: Annotated[str, AfterValidator(hide)] = Field(
        description="The code as received: 123456, 123 456 or 123-456 (4 to 8 digits).",
        examples=["123456"],
        json_schema_extra={"minLength": 4, "maxLength": MAX_CODE_INPUT, "pattern": CODE_INPUT_PATTERN},
    )


class SendIn(Schema):
    method: Method = Field(Method.SMS, description="SMS or a voice call.")


# -- responses -----------------------------------------------------------------------------------


class RefusalOut(Schema):
    """Why something is refused right now, and until when (None: until something else changes)."""

    type: str = Field(
        description="The problem type a request refused for this reason gets.",
        json_schema_extra={"enum": REFUSAL_TYPES},
    )
    reason: RefusalReason
    title: str
    detail: str
    retry_at: datetime | None = None


class StateOut(Schema):
    """What the registration allows right now."""

    can_check: bool = Field(description="A code may be submitted now.")
    attempts_left: int = Field(ge=0, description="Tries left on the current code.")
    attempts_allowed: int = Field(ge=0)
    code_expires_at: datetime | None = Field(description="When the current code expires.")
    can_send: bool = Field(description="A new code may be asked for now.")
    can_call: bool = Field(
        description="A voice call may be asked for now: also once VOICE_FALLBACK_AFTER has passed "
        'since an SMS code, inside the SMS cooldown ("Call me instead").'
    )
    next_send_at: datetime | None = Field(description="When a new code can be sent (null: not at all).")
    check_refusal: RefusalOut | None = Field(description="Why a code cannot be submitted now.")
    send_refusal: RefusalOut | None = Field(description="Why a new code cannot be asked for now.")


class CodeRequestOut(Schema):
    """The latest code request: how it ended."""

    method: Method
    outcome: SendOutcome
    requested_at: datetime
    refusal: RefusalOut | None = None
    failure: Failure | None = None


class RegistrationSummaryOut(Schema):
    id: UUID = Field(description="The registration's public id.")
    phone_number: str = Field(
        description="Digits with the country code, no + (kept for older clients: see phone_e164).",
        examples=["8613800138000"],
        json_schema_extra={"pattern": DIGITS_PATTERN},  # documented, not checked on the way out
    )
    phone_e164: str = Field(
        description="The number in E.164: + and the digits with the country code.",
        examples=["+8613800138000"],
        json_schema_extra={"pattern": E164_PATTERN},
    )
    formatted_phone: str = Field(
        description="The number as people write it, in its international format.",
        examples=["+86 138 0013 8000"],
    )
    status: RegistrationStatus
    step: int = Field(
        ge=0, le=4, description="Setup progress: 1 code, 2 verified, 3 WhatsApp being set up, 4 registered."
    )
    done: bool = Field(
        description=(
            "Nothing more will happen by itself: registered, failed or closed, or verified with a "
            "WhatsApp client NXCloud refused (staff act next)."
        )
    )
    account_state: AccountState | None = Field(
        description="What WhatsApp last said of the number's account (its webhooks); null: nothing yet."
    )
    created_at: datetime
    verified_at: datetime | None
    registered_at: datetime | None


class SituationOut(Schema):
    """The registration's situation, decided once for every door: the words the customer page says."""

    code: Situation = Field(description="The situation (stable): what is allowed follows from it.")
    title: str
    detail: str


class HealthNoticeOut(Schema):
    """One thing the merchant should know about a registered number, and what to do next."""

    kind: str = Field(description="What it is about: account or name.")
    tone: str = Field(description="ok, wait (nothing to do but wait) or problem (act on it).")
    title: str
    text: str
    next_step: str
    reason: str = Field(description="The reason NXCloud gave, as it gave it (may be empty).")


class HealthOut(Schema):
    """A registered number's health, as last read from NXCloud's webhooks or getPhone."""

    account_state: AccountState | None = Field(description="The WhatsApp account's state.")
    name_review: NameReview | None = Field(description="Where Meta's review of the display name is.")
    display_name: str
    name_rejection_reason: str = Field(description="Why the name was rejected, as NXCloud gave it.")
    quality_rating: str = Field(description="As NXCloud sends it: GREEN, YELLOW, RED, UNKNOWN.")
    quality_text: str = Field(description="The rating in words.")
    messaging_limit: str = Field(description="The business messaging limit, as NXCloud sends it.")
    limit_text: str = Field(description="The limit in words (customers a day) where the tier is known.")
    pin_set: bool | None = Field(description="Whether NXCloud reports the two-step PIN set.")
    read_at: datetime | None = Field(description="When it was last read.")
    tone: str = Field(description="The worst notice's tone: ok, wait or problem.")
    notices: list[HealthNoticeOut]


class RegistrationOut(RegistrationSummaryOut):
    situation: SituationOut
    state: StateOut
    last_code_request: CodeRequestOut | None
    health: HealthOut | None = Field(
        description="A registered number's health (null before it is registered or read)."
    )
    setup_again_at: datetime | None = Field(
        description=(
            "A verified number whose WhatsApp setup is paused by Meta's registration limit "
            "(10 in 72 hours): when it can be tried again."
        )
    )


class FieldErrorOut(Schema):
    field: str
    detail: str
    code: str


class ProblemOut(Schema):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str = Field(
        description="A URN naming the kind of problem; stable. Every one is listed here.",
        json_schema_extra={"enum": PROBLEM_TYPES},
    )
    title: str
    status: int
    detail: str
    retry_at: datetime | None = None
    attempts_left: int | None = None
    errors: list[FieldErrorOut] | None = None
    registration: UUID | None = None


# -- the session (``SessionAuth`` only) -------------------------------------------------------


class LoginIn(Schema):
    username: str = Field(min_length=1, max_length=254, examples=["customer"])
    password: SecretStr = Field(min_length=1, max_length=4096, description="Never echoed or logged.")


class SessionOut(Schema):
    """Who the session belongs to, and the CSRF token its unsafe requests send."""

    authenticated: bool
    username: str | None = Field(description="The signed-in user's username; null when signed out.")
    csrf_token: str = Field(
        description=(
            "Send it in the X-CSRFToken header with every POST and DELETE of this session (it "
            "is also the csrftoken cookie's value). It changes at sign-in: use the one returned."
        )
    )
