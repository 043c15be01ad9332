"""How a bulk action ended, grouped: one message per group, not one per row.

Every action (send, create the client, refresh, close) files the rows it touched here, so a
failed registration, for one, is described by the same presenter text whichever action met it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib import messages
from django.utils.translation import gettext, ngettext

from ..choices import Failure
from ..models import CallRecord, PhoneRegistration
from ..nxcloud.exceptions import NXCloudConfigurationError, NXCloudError, TransportError
from ..texts import refusal_text
from .presenters import EMPTY, _latest, _numbers, configuration_message, failed_text, result_of

#: What a step that records no row (createClient, phoneList) raises when it fails;
#: ``services.failure_of`` says why.
CALL_ERRORS = (NXCloudError, NXCloudConfigurationError, TransportError)


@dataclass
class Outcomes:
    """Rows of one bulk action grouped by how they ended, for one message per group."""

    done: list[PhoneRegistration] = field(default_factory=list)
    already: list[PhoneRegistration] = field(default_factory=list)
    skipped: list[PhoneRegistration] = field(default_factory=list)
    #: Registrations that failed at NXCloud (``failed``): nothing any action can do for them.
    failed: list[PhoneRegistration] = field(default_factory=list)
    refused: dict[str, list[tuple[PhoneRegistration, datetime | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    rejected: dict[tuple[int | None, str], list[PhoneRegistration]] = field(
        default_factory=lambda: defaultdict(list)
    )
    unreachable: list[PhoneRegistration] = field(default_factory=list)
    unknown: list[PhoneRegistration] = field(default_factory=list)
    configuration: str = ""
    not_tried: list[PhoneRegistration] = field(default_factory=list)

    def fail(self, registration: PhoneRegistration, failure: str, source: CallRecord | Exception) -> bool:
        """File a failed row by why it failed (``Failure``); True when the action must stop there.

        Our configuration would fail every number alike, so it stops the action; NXCloud
        unreachable (nothing happened there) and maybe sent are groups of their own; a blank
        failure is NXCloud's plain "no", grouped by its result code and message.
        """
        if failure == Failure.CONFIGURATION:
            self.configuration = configuration_message(source)
            return True
        if failure == Failure.UNREACHABLE:
            self.unreachable.append(registration)
        elif failure == Failure.MAYBE_SENT:
            self.unknown.append(registration)
        else:
            self.rejected[result_of(source)].append(registration)
        return False

    def as_messages(self, *, done: str, unknown: str, method: str = "") -> list[tuple[int, str]]:
        """One (level, text) per outcome group; ``done`` and ``unknown`` are the action's words."""
        said: list[tuple[int, str]] = []
        if self.done:
            numbers = _numbers(self.done)
            said.append(
                (messages.SUCCESS, done % {"count": len(self.done), "numbers": numbers, "method": method})
            )
        for reason, rows in self.refused.items():
            registrations = [registration for registration, _until in rows]
            text = ngettext(
                "Refused for %(count)d number (%(numbers)s): %(why)s",
                "Refused for %(count)d numbers (%(numbers)s): %(why)s",
                len(rows),
            ) % {
                "count": len(rows),
                "numbers": _numbers(registrations),
                "why": refusal_text(reason, _latest(until for _r, until in rows)),
            }
            said.append((messages.WARNING, text))
        for (code, message), registrations in self.rejected.items():
            text = ngettext(
                "NXCloud said no for %(count)d number (%(numbers)s): result %(code)s, %(message)s",
                "NXCloud said no for %(count)d numbers (%(numbers)s): result %(code)s, %(message)s",
                len(registrations),
            ) % {
                "count": len(registrations),
                "numbers": _numbers(registrations),
                "code": code if code is not None else EMPTY,
                "message": message or gettext("no message"),
            }
            said.append((messages.ERROR, text))
        if self.unreachable:
            text = ngettext(
                "NXCloud could not be reached for %(count)d number (%(numbers)s): nothing happened "
                "there; try again.",
                "NXCloud could not be reached for %(count)d numbers (%(numbers)s): nothing happened "
                "there; try again.",
                len(self.unreachable),
            ) % {"count": len(self.unreachable), "numbers": _numbers(self.unreachable)}
            said.append((messages.ERROR, text))
        if self.unknown:
            text = unknown % {"count": len(self.unknown), "numbers": _numbers(self.unknown)}
            said.append((messages.WARNING, text))
        if self.configuration:
            text = self.configuration
            if self.not_tried:
                text += " " + ngettext(
                    "Stopped: %(count)d more number was not tried.",
                    "Stopped: %(count)d more numbers were not tried.",
                    len(self.not_tried),
                ) % {"count": len(self.not_tried)}
            said.append((messages.ERROR, text))
        if self.already:
            text = ngettext(
                "%(count)d number already had its client: %(numbers)s.",
                "%(count)d numbers already had their clients: %(numbers)s.",
                len(self.already),
            ) % {"count": len(self.already), "numbers": _numbers(self.already)}
            said.append((messages.INFO, text))
        if self.skipped:
            text = ngettext(
                "Skipped %(count)d number that is not verified yet: %(numbers)s.",
                "Skipped %(count)d numbers that are not verified yet: %(numbers)s.",
                len(self.skipped),
            ) % {"count": len(self.skipped), "numbers": _numbers(self.skipped)}
            said.append((messages.WARNING, text))
        said.extend(failed_messages(self.failed))
        return said


def failed_messages(registrations: list[PhoneRegistration]) -> list[tuple[int, str]]:
    """One warning per way of failing: ``failed_text`` for the numbers it describes."""
    grouped: dict[str, list[PhoneRegistration]] = defaultdict(list)
    for registration in registrations:
        grouped[failed_text(registration)].append(registration)
    return [
        (messages.WARNING, gettext("%(numbers)s: %(why)s") % {"numbers": _numbers(rows), "why": why})
        for why, rows in grouped.items()
    ]
