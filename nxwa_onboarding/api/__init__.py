"""The customer flow as JSON, for single-page and mobile front ends (the optional ``api`` extra).

Include ``nxwa_onboarding.api.urls`` to serve it; nothing else in the app imports this package,
so a host without django-ninja installed never needs it. Every resource goes through
``nxwa_onboarding.services`` with channel ``api``, owner-only exactly like the customer pages;
errors are RFC 9457 problem details (``problems``).
"""
