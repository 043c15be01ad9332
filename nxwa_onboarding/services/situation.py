"""One decision per situation: where a registration is, what may be done there, and the words.

Every door (the customer pages, the JSON API, the admin, the operator commands) asks this module
what situation a registration, or a number someone tries to add, is in, and says the words it
returns; none decides on its own. Pure: it reads the registration's fields and the rules'
verdict (``services.get_state``), never the database or NXCloud.

The consequence of an accepted code (the number's WhatsApp setup, enqueued once the check
commits) follows from the decision: ``tasks.start_setup``, which every door calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ..choices import UNVERIFIED_STATES, AccountState, RegistrationStatus
from ..texts import join_sentences
from .rules import Refusal, RegistrationState

if TYPE_CHECKING:
    from ..models import PhoneRegistration

Status = RegistrationStatus


class Situation(models.TextChoices):
    """Every situation a registration, or a number being added, can be in (label: its title)."""

    # A registration, as it is now.
    MAY_CHECK = "may_check", gettext_lazy("Code sent")
    MAY_SEND = "may_send", gettext_lazy("Code needed")
    SETUP_PENDING = "setup_pending", gettext_lazy("Verified")
    SETTING_UP = "setting_up", gettext_lazy("Setting up WhatsApp")
    SETUP_REFUSED = "setup_refused", gettext_lazy("Setup needs our team")
    REGISTERED = "registered", gettext_lazy("Registered")
    BANNED = "banned", gettext_lazy("Banned by WhatsApp")
    RESTRICTED = "restricted", gettext_lazy("Restricted by WhatsApp")
    NAME_REJECTED = "name_rejected", gettext_lazy("Display name rejected")
    CLOSED = "closed", gettext_lazy("Closed")
    FAILED = "failed", gettext_lazy("Not registered")
    # A number someone tries to add.
    TAKEN = "taken", gettext_lazy("Number taken")
    OPEN_LIMIT = "open_limit", gettext_lazy("Too many numbers waiting")
    ALREADY_YOURS = "already_yours", gettext_lazy("Already being onboarded")
    ALREADY_REGISTERED = "already_registered", gettext_lazy("Already registered")


#: Situations of a number someone tries to add (the others are a registration's).
ADDING = (Situation.TAKEN, Situation.OPEN_LIMIT, Situation.ALREADY_YOURS, Situation.ALREADY_REGISTERED)
#: A registered number whose WhatsApp account is not (fully) usable: never "ready to use".
TROUBLED = (Situation.BANNED, Situation.RESTRICTED, Situation.NAME_REJECTED)
#: Registered, with or without trouble.
REGISTERED_SITUATIONS = (Situation.REGISTERED, *TROUBLED)
#: Nothing more happens by itself: a client stops polling (staff, or the customer, act next).
DONE = (*REGISTERED_SITUATIONS, Situation.SETUP_REFUSED, Situation.CLOSED, Situation.FAILED)
#: Where staff may (re)create the WhatsApp client.
SETUP_ALLOWED = (Situation.SETUP_PENDING, Situation.SETUP_REFUSED)
#: Account states that ban the number, and those that restrict it.
BANNED_ACCOUNTS = (AccountState.BANNED, AccountState.DELETED)
RESTRICTED_ACCOUNTS = (AccountState.RESTRICTED, AccountState.BAN_SCHEDULED)
#: ``name_decision`` of a rejected display name (the webhook stores the event as sent, upper case).
NAME_REJECTED_DECISION = "REJECTED"

#: Where the number is on the way: 1 code, 2 verified, 3 WhatsApp being set up, 4 registered.
STEPS: dict[str, int] = {
    Situation.MAY_CHECK: 1,
    Situation.MAY_SEND: 1,
    Situation.SETUP_PENDING: 2,
    Situation.SETUP_REFUSED: 2,
    Situation.SETTING_UP: 3,
    **{situation: 4 for situation in REGISTERED_SITUATIONS},
}


def text(situation: str, *, limit: int = 0) -> str:
    """The situation's words, the same on every door (``limit``: the open-registration limit)."""
    if situation == Situation.OPEN_LIMIT:
        return open_limit_text(limit)
    texts = {
        Situation.MAY_CHECK: _("A code was sent to this number. Enter it to verify the number."),
        Situation.MAY_SEND: _("Ask for a code to verify this number."),
        Situation.SETUP_PENDING: _(
            "Your number is verified. Next, WhatsApp is set up for it: this starts by itself."
        ),
        Situation.SETTING_UP: _(
            "Your number is verified and WhatsApp is being set up for it. This usually takes a few minutes."
        ),
        Situation.SETUP_REFUSED: _(
            "WhatsApp could not be set up for this number yet. Our team has been told and will look "
            "into it; there is nothing you need to do."
        ),
        Situation.REGISTERED: _("Your number is registered with WhatsApp and ready to use."),
        Situation.BANNED: _(
            "Your number is registered, but WhatsApp has banned its account, so it cannot be used. "
            "Contact us."
        ),
        Situation.RESTRICTED: _(
            "Your number is registered, but WhatsApp has restricted its account, so it can be used "
            "only in part. Contact us."
        ),
        Situation.NAME_REJECTED: _(
            "Your number is registered, but WhatsApp rejected its display name. Contact us to choose another."
        ),
        Situation.CLOSED: _("This registration is closed. You can add the number again to start over."),
        Situation.FAILED: _(
            "WhatsApp could not finish setting up this number. You can start again; if it fails again, "
            "contact us."
        ),
        Situation.TAKEN: join_sentences(
            _("This number is already being onboarded."),
            _("If it is yours, finish its registration where it was started, or try again tomorrow."),
        ),
        Situation.ALREADY_YOURS: _("You are already onboarding this number: here it is."),
        Situation.ALREADY_REGISTERED: _("This number is already registered with WhatsApp: here it is."),
    }
    return str(texts[Situation(situation)])


def open_limit_text(limit: int) -> str:
    """At the open limit: how many numbers may wait for their codes, and what to do."""
    return ngettext(
        "You already have %(count)d number waiting for its code. Verify it before adding another.",
        "You already have %(count)d numbers waiting for their codes. Verify one of them "
        "before adding another.",
        limit,
    ) % {"count": limit}


def title(situation: str) -> str:
    return str(Situation(situation).label)


@dataclass(frozen=True)
class Decision:
    """A situation and what it allows: every door reads this, none decides for itself."""

    situation: Situation
    may_check: bool = False  # a code may be typed in now
    may_send: bool = False  # a new code may be asked for now (within the limits)
    refusal: Refusal | None = None  # why a check (or else a send) is refused, where it is
    limit: int = 0  # at the open limit: how many numbers may wait
    registration: PhoneRegistration | None = None  # adding a number of one's own: the registration to go to

    @property
    def title(self) -> str:
        return title(self.situation)

    @property
    def text(self) -> str:
        return text(self.situation, limit=self.limit)

    @property
    def words(self) -> str:
        """Title and text together, as one line (the admin's and the commands' form)."""
        return f"{self.title}: {self.text}"

    @property
    def step(self) -> int:
        return STEPS.get(self.situation, 0)

    @property
    def done(self) -> bool:
        return self.situation in DONE

    @property
    def awaits_code(self) -> bool:
        """Not verified yet: a code may be checked, now or once one is sent (staff's enter-code page)."""
        return self.situation in (Situation.MAY_CHECK, Situation.MAY_SEND)

    @property
    def may_set_up(self) -> bool:
        """Staff may create the number's WhatsApp client (the admin's action)."""
        return self.situation in SETUP_ALLOWED

    @property
    def is_registered(self) -> bool:
        return self.situation in REGISTERED_SITUATIONS

    def as_dict(self) -> dict[str, object]:
        """The API's ``situation`` member."""
        return {"code": self.situation.value, "title": self.title, "detail": self.text}


def registered_situation(account_state: str, name_decision: str) -> Situation:
    """A registered number as what WhatsApp last said of its account (the webhooks' fields)."""
    if account_state in BANNED_ACCOUNTS:
        return Situation.BANNED
    if account_state in RESTRICTED_ACCOUNTS:
        return Situation.RESTRICTED
    if name_decision.upper() == NAME_REJECTED_DECISION:
        return Situation.NAME_REJECTED
    return Situation.REGISTERED


def decide(registration: object, state: RegistrationState | None = None) -> Decision:
    """The situation of ``registration`` (a ``PhoneRegistration``) and what it allows.

    ``state`` is ``services.get_state(registration, ...)`` (read first: it refreshes the status);
    without it (a list of many) a code out is taken as usable and nothing is said to be allowed."""
    status = getattr(registration, "status", "")
    if status in UNVERIFIED_STATES and state is None:
        return Decision(Situation.MAY_CHECK if status == Status.CODE_SENT else Situation.MAY_SEND)
    if status in UNVERIFIED_STATES:
        check = state.check.refusal if state is not None else None
        send = state.send.refusal if state is not None else None
        may_send = state is not None and send is None
        if state is not None and status == Status.CODE_SENT and check is None:
            return Decision(Situation.MAY_CHECK, may_check=True, may_send=may_send, refusal=send)
        refusal = check if status == Status.CODE_SENT and check is not None else send
        return Decision(Situation.MAY_SEND, may_send=may_send, refusal=refusal)
    if status == Status.VERIFIED:
        if getattr(registration, "client_refusal", ""):
            return Decision(Situation.SETUP_REFUSED)
        return Decision(Situation.SETUP_PENDING)
    if status == Status.CLIENT_CREATED:
        return Decision(Situation.SETTING_UP)
    if status == Status.REGISTERED:
        return Decision(
            registered_situation(
                getattr(registration, "account_state", ""), getattr(registration, "name_decision", "")
            )
        )
    if status == Status.FAILED:
        return Decision(Situation.FAILED)
    return Decision(Situation.CLOSED)


def adding(*, taken: bool, own: PhoneRegistration | None = None, limit: int = 0) -> Decision:
    """A number someone tried to add and could not: ``own`` is their own open registration of it
    (then they go to it), else it is ``taken`` by another customer, else they are at the open
    limit (``limit`` numbers waiting)."""
    if own is not None:
        if own.status == Status.REGISTERED:
            return Decision(Situation.ALREADY_REGISTERED, registration=own)
        return Decision(Situation.ALREADY_YOURS, registration=own)
    if taken:
        return Decision(Situation.TAKEN)
    return Decision(Situation.OPEN_LIMIT, limit=limit)
