"""Signals sent by ``nxwa_onboarding.services`` after the matching state change is saved.

All send ``sender=PhoneRegistration`` and ``registration=<PhoneRegistration>``;
``code_requested`` also sends ``code_request``, ``code_verified`` also sends ``attempt``.
"""

from __future__ import annotations

from django.dispatch import Signal

code_requested = Signal()
code_verified = Signal()
client_created = Signal()
registration_completed = Signal()
