"""What a registration allows right now, as customers and staff see it (reads only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from django.utils import timezone

from ..addresses import block_of, clean_ip
from ..choices import Channel, Method
from ..models import PhoneRegistration
from ..phone import allowed_methods
from . import policy, sql
from .rules import (
    CheckFacts,
    CheckState,
    RegistrationState,
    Scope,
    SendFacts,
    SendState,
    check_state,
    next_code_at,
    send_state,
)

#: Channels on which a person on the internet asks: the per-owner and per-address send limits
#: apply to them (staff in the admin and operators at a shell are bound by the number's only).
WEB_CHANNELS = (Channel.CUSTOMER, Channel.API)
#: Channels whose requests always have an address: without one, the per-address rules refuse.
ADDRESSED_CHANNELS = (Channel.CUSTOMER,)


def scope_for(
    registration: PhoneRegistration, *, channel: str, ip: str | None, sending: bool = True
) -> Scope:
    """Which of the rules beyond the number apply to this request, and to whom. ``sending``
    False (a code check): the number's kind is not looked up (only the send rules read it)."""
    block = block_of(clean_ip(ip))
    web = channel in WEB_CHANNELS
    return Scope(
        check_block=block,
        send_block=block if web else "",
        owner_id=registration.owner_id if web else None,
        address_missing=channel in ADDRESSED_CHANNELS and not block,
        methods=allowed_methods(registration.phone_number) if sending else (Method.SMS, Method.VOICE),
    )


def with_last_method(registration: PhoneRegistration, facts: SendFacts) -> SendFacts:
    """The send facts with the method of the registration's latest code (the voice fallback's)."""
    return replace(facts, last_code_method=registration.last_code_method or "")


def refresh_from_facts(registration: PhoneRegistration, facts: CheckFacts | SendFacts) -> None:
    """Bring the caller's registration up to date with the status the rules were read against."""
    registration.status = facts.status
    registration.verified_at = facts.verified_at


def read_send_state(
    registration: PhoneRegistration,
    scope: Scope,
    now: datetime,
    *,
    method: str | None = None,
    exclude_pk: int | None = None,
    holds_on: Sequence[str] = (),
) -> SendState:
    """The send rules' verdict, read in one statement; refreshes the registration's status.
    The limits are the registration's application's policy over the settings. ``holds_on``: a
    recorded call's hold scopes, read in the same statement (``state.holds``)."""
    limits = policy.for_registration(registration).limits
    facts = sql.read_send_facts(registration, scope, limits, now, exclude_pk=exclude_pk, holds_on=holds_on)
    refresh_from_facts(registration, facts)
    return send_state(with_last_method(registration, facts), limits, now, method)


def read_check_state(
    registration: PhoneRegistration,
    scope: Scope,
    now: datetime,
    *,
    exclude_pk: int | None = None,
    holds_on: Sequence[str] = (),
) -> CheckState:
    """The check rules' verdict, read in one statement (a second only when a refusal lasts until
    a new code may be sent); refreshes the registration's status. ``holds_on``: as
    ``read_send_state``'s."""
    limits = policy.for_registration(registration).limits
    facts = sql.read_check_facts(registration, scope, limits, now, exclude_pk=exclude_pk, holds_on=holds_on)
    refresh_from_facts(registration, facts)

    def new_code_at() -> datetime | None:
        facts = with_last_method(registration, sql.read_send_facts(registration, scope, limits, now))
        send = send_state(facts, limits, now)
        return next_code_at(send, now)

    return check_state(facts, limits, now, new_code_at)


def get_state(
    registration: PhoneRegistration, *, ip: str | None = None, channel: str = Channel.API
) -> RegistrationState:
    """What the registration allows right now: checks (tries left, expiry) and sends.
    One query; the registration's ``status`` and ``verified_at`` are refreshed from it."""
    now = timezone.now()
    limits = policy.for_registration(registration).limits
    scope = scope_for(registration, channel=channel, ip=ip)
    check_facts, send_facts = sql.read_state_facts(registration, scope, limits, now)
    refresh_from_facts(registration, check_facts)
    send = send_state(with_last_method(registration, send_facts), limits, now)
    check = check_state(check_facts, limits, now, lambda: next_code_at(send, now))
    return RegistrationState(check, send)
