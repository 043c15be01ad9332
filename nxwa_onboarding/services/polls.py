"""Status polls: what a customer's poll may set in motion, and how often (claims in the database).

A poll never calls NXCloud, but it can start work that does. Each kind of work is claimed on the
registration's row by one conditional UPDATE, so however many pages, API clients or processes
poll, the work happens at most once per period:

- the poll's work at all (nudging the application's follower): once per ``POLL_INTERVAL``
  (``polled_at``); polls in between read the database and nothing else;
- enqueueing a lost client setup again: once per ``stale_after()`` (``setup_retried_at``). A
  setup that keeps failing (our configuration, NXCloud unreachable) is otherwise left to the
  follower's backoff, so polling never multiplies createClient calls.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from ..models import PhoneRegistration
from .calls import stale_after

#: The documented polling interval (README, the API's ``refresh``): a poll's work is done at
#: most this often per registration.
POLL_INTERVAL = timedelta(seconds=2)


def _claim(registration: PhoneRegistration, field: str, period: timedelta, **where: object) -> bool:
    now = timezone.now()
    free = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lte": now - period})
    claimed = PhoneRegistration.objects.filter(free, pk=registration.pk, **where).update(**{field: now})
    if claimed:
        setattr(registration, field, now)
    return bool(claimed)


def claim_poll(registration: PhoneRegistration) -> bool:
    """Whether this poll does the poll's work (the first in ``POLL_INTERVAL``)."""
    return _claim(registration, "polled_at", POLL_INTERVAL)


def claim_setup_retry(registration: PhoneRegistration) -> bool:
    """Whether this poll may enqueue the registration's client setup again (the first in
    ``stale_after()``, and only while it is verified with no createClient claimed)."""
    return _claim(
        registration,
        "setup_retried_at",
        stale_after(),
        status=PhoneRegistration.Status.VERIFIED,
        client_requested_at__isnull=True,
    )
