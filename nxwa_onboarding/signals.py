"""Signals sent by ``nxwa_onboarding.services`` after the matching state change is saved.

All send ``sender=PhoneRegistration`` and ``registration=<PhoneRegistration>``;
``code_requested`` also sends ``code_request``, ``code_verified`` also sends ``attempt``.
``registration_closed`` also sends ``by`` (the user, or None when a newcomer's registration
took the number from an unverified one) and ``reason``. ``send_limit_reached`` is sent once a
day when MAX_SENDS_PER_DAY_GLOBAL starts refusing sends, with ``code_request`` (the refusal).
``registration_stuck`` is sent once when a registration is marked as needing attention
(``stuck_at``: in progress, or a code out with no attempt, for longer than STUCK_AFTER).
"""

from __future__ import annotations

from django.dispatch import Signal

code_requested = Signal()
code_verified = Signal()
client_created = Signal()
registration_completed = Signal()
registration_closed = Signal()
send_limit_reached = Signal()
registration_stuck = Signal()
