"""The API's typed bodies (django-ninja schemas): what the OpenAPI document is generated from."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from ninja import Field, Schema
from pydantic import AfterValidator

from ..choices import Failure, Method, RefusalReason, RegistrationStatus, SendOutcome
from ..redact import hide

# -- requests ------------------------------------------------------------------------------------


class StartIn(Schema):
    phone_number: str = Field(description="With the country code, typed any way: +86 138 0013 8000.")
    method: Method = Field(Method.SMS, description="How the first code is sent.")


class CodeIn(Schema):
    # Hidden from the moment it is parsed: error reports show a placeholder (``redact``).
    code: Annotated[str, AfterValidator(hide)] = Field(
        description="The code as received: 123456, 123 456 or 123-456."
    )


class SendIn(Schema):
    method: Method = Field(Method.SMS, description="SMS or a voice call.")


# -- responses -----------------------------------------------------------------------------------


class RefusalOut(Schema):
    """Why something is refused right now, and until when (None: until something else changes)."""

    type: str = Field(description="The problem type a request refused for this reason gets.")
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
    phone_number: str = Field(description="Digits with the country code.")
    formatted_phone: str
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
    created_at: datetime
    verified_at: datetime | None
    registered_at: datetime | None


class RegistrationOut(RegistrationSummaryOut):
    state: StateOut
    last_code_request: CodeRequestOut | None


class FieldErrorOut(Schema):
    field: str
    detail: str
    code: str


class ProblemOut(Schema):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str = Field(description="A URN naming the kind of problem; stable.")
    title: str
    status: int
    detail: str
    retry_at: datetime | None = None
    attempts_left: int | None = None
    errors: list[FieldErrorOut] | None = None
    registration: UUID | None = None
