"""Signals sent by ``nxwa_onboarding.services`` after the matching state change is saved.

All send ``sender=PhoneRegistration`` and ``registration=<PhoneRegistration>``;
``code_requested`` also sends ``code_request``, ``code_verified`` also sends ``attempt``.
``registration_closed`` also sends ``by`` (the user, or None when a newcomer's registration
took the number from an unverified one) and ``reason``. ``send_limit_reached`` is sent once a
day when MAX_SENDS_PER_DAY_GLOBAL starts refusing sends, with ``code_request`` (the refusal).

Sent by ``nxwa_onboarding.webhooks`` once per applied event (never for a redelivery), after the
delivery and the registration's change are committed, with ``registration``, ``delivery`` (the
``WebhookDelivery``) and ``event`` (NXCloud's event or decision name):
``account_updated`` (a ban, restriction, reinstatement or deletion: also ``state``, an
``AccountState``), ``quality_updated`` (a quality or messaging-limit change: also
``messaging_limit``) and ``display_name_decided`` (also ``decision`` and ``requested_name``).
``registration_stuck`` is sent once when a registration is marked as needing attention
(``stuck_at``: in progress, or a code out with no attempt, for longer than STUCK_AFTER).
``calls_paused`` is sent once per trip of the breaker (``services.breaker``: BREAKER_FAILURES
configuration failures within BREAKER_WINDOW), with ``sender=CallHold``, ``until`` and
``failures``.
"""

from __future__ import annotations

from django.dispatch import Signal

code_requested = Signal()
code_verified = Signal()
client_created = Signal()
registration_completed = Signal()
registration_closed = Signal()
send_limit_reached = Signal()
account_updated = Signal()
quality_updated = Signal()
display_name_decided = Signal()
registration_stuck = Signal()
calls_paused = Signal()
