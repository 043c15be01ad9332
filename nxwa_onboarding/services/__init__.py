"""The only code that moves a registration through its states and calls NXCloud.

Views, the admin and the management commands call these functions; nothing else builds a
client. One module per flow, leaves first:

- ``rules``: the rules as pure functions over fact objects (no database);
- ``sql``: every hand-written statement (the rules' reads, the finishing UPDATE);
- ``calls``: the client, the shared "record a call" path and the one failure classification;
- ``state``: what a registration allows now (``get_state``);
- ``registration``: creating registrations and sending codes;
- ``verification``: checking codes;
- ``client_setup``: createClient;
- ``situation``: the one decision per situation and its words, that every door asks;
- ``status``: phoneList for one number;
- ``sync``: a whole phoneList applied in batches, per application;
- ``health``: a registered number's health record (webhooks and getPhone);
- ``health_view``: that health in a merchant's words, for every door;
- ``follow``: following an application in steps (the tasks' and ``nxwa_follow``'s work);
- ``applications``: customer applications (createApp, add by app key, assignment);
- ``recovery``: calls left pending by a crash.

Every NXCloud call that is recorded is a ``pending`` row committed *before* the call (no
transaction is held open during it) and finished after it, so a crash leaves evidence. At most
one call per registration is in flight, enforced by partial unique constraints in the database.
The pending row is inserted *first* and the rules are read after it, in the same short
transaction, so no submission can slip between another's check and its insert. The rules
(attempts per code, code lifetime, resend cooldown, daily cap, attempts per IP) are counted from
the database rows, so they hold across processes and servers.
"""

from __future__ import annotations

from ..codes import code_digest, normalize_code
from . import follow, health, health_view, situation
from .applications import (
    ListedNumber,
    add_application,
    application_for_owner,
    application_numbers,
    assign_application,
    create_application,
    outcome_text,
)
from .calls import CallResult, failure_of, get_client, stale_after
from .client_setup import create_client
from .recovery import ReconcileSummary, reconcile_pending
from .registration import (
    close_registration,
    create_registration,
    refused_addition,
    request_code,
    sends_suspended,
    start_registration,
    withdraw_registration,
)
from .rules import (
    COUNTED_ATTEMPTS,
    COUNTED_SENDS,
    IP_COUNTED_ATTEMPTS,
    VERIFIED_STATES,
    CheckState,
    Refusal,
    RegistrationState,
    SendState,
)
from .situation import Decision, Situation, decide
from .state import get_state
from .status import SyncSummary, refresh_status
from .sync import sync_statuses
from .verification import check_code, rejected_code

__all__ = [
    "COUNTED_ATTEMPTS",
    "COUNTED_SENDS",
    "IP_COUNTED_ATTEMPTS",
    "VERIFIED_STATES",
    "CallResult",
    "CheckState",
    "Decision",
    "ListedNumber",
    "ReconcileSummary",
    "Refusal",
    "RegistrationState",
    "SendState",
    "Situation",
    "SyncSummary",
    "add_application",
    "application_for_owner",
    "application_numbers",
    "assign_application",
    "check_code",
    "close_registration",
    "code_digest",
    "create_application",
    "create_client",
    "create_registration",
    "decide",
    "failure_of",
    "follow",
    "get_client",
    "get_state",
    "health",
    "health_view",
    "normalize_code",
    "outcome_text",
    "reconcile_pending",
    "refresh_status",
    "refused_addition",
    "rejected_code",
    "request_code",
    "sends_suspended",
    "situation",
    "stale_after",
    "start_registration",
    "sync_statuses",
    "withdraw_registration",
]
