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
``health_changed`` is sent once per change of a number's health (``services.health``: its
account state, display name or review, quality, messaging limit or two-step PIN), whether a
webhook or the follower's ``getPhone`` brought it, with ``health`` (the ``NumberHealth``),
``changed`` (the names of the fields that changed) and ``source`` (``webhook`` or ``getphone``).

The fraud guard (``services.fraud``) tells staff once a day per region or prefix, with
``registration`` and ``code_request`` (the send it refused, or reported): ``send_budget_reached``
(also ``key``: the region, or the prefix's digits, whose SEND_BUDGETS entry is used up) and
``prefix_blocked`` (also ``blocked``: the ``BlockedPrefix`` with its figures; its ``mode`` says
whether sends there are refused or only reported).

``calls_paused`` is sent once per trip of the breaker (``services.breaker``: BREAKER_FAILURES
configuration failures within BREAKER_WINDOW), with ``sender=CallHold``, ``until`` and
``failures``.
"""

from __future__ import annotations

from django.dispatch import Signal

#: A code was sent (getCode answered, or may have): also ``code_request``.
code_requested = Signal()
#: A code was accepted and the number is verified: also ``attempt``.
code_verified = Signal()
#: The number's WhatsApp client was created (createClient succeeded).
client_created = Signal()
#: NXCloud lists the number as registered (register_status 5); sent once.
registration_completed = Signal()
#: A registration was closed: also ``by`` (the user, or None when a newcomer took the number from
#: an expired unverified one) and ``reason``.
registration_closed = Signal()
#: MAX_SENDS_PER_DAY_GLOBAL started refusing every send (once a day): also ``code_request``, the
#: refusal.
send_limit_reached = Signal()
#: A webhook banned, restricted, reinstated or deleted the number: also ``delivery``, ``event`` and
#: ``state`` (an ``AccountState``).
account_updated = Signal()
#: A webhook changed the number's quality or messaging limit: also ``delivery``, ``event`` and
#: ``messaging_limit``.
quality_updated = Signal()
#: A webhook approved or rejected the display name: also ``delivery``, ``event``, ``decision`` and
#: ``requested_name``.
display_name_decided = Signal()
#: A registration was marked as needing attention (``stuck_at``); sent once.
registration_stuck = Signal()
health_changed = Signal()
send_budget_reached = Signal()
prefix_blocked = Signal()
calls_paused = Signal()
