"""``sql_rows.update_many`` writes what Django's ``bulk_update`` writes (the plain version).

Random details (text with quotes, NULs stripped as the sync does, empty strings, None where the
column allows it, small integers, times) on a few registrations; written once by each, from the
same starting rows: every column of every row reads back the same."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.forms.models import model_to_dict
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from nxwa_onboarding.models import PhoneRegistration
from nxwa_onboarding.services import sql_rows

NAMES = ("number_status", "quality_rating", "verified_name", "waba_id", "register_status", "last_synced_at")
text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=10)
details = st.fixed_dictionaries(
    {
        "number_status": text.map(lambda v: v[:20]),
        "quality_rating": text.map(lambda v: v[:10]),
        "verified_name": text,
        "waba_id": text,
        "register_status": st.none() | st.integers(0, 5),
        "last_synced_at": st.none() | st.integers(-(10**6), 10**6),
    }
)


def rows(count: int, prefix: str) -> list[PhoneRegistration]:
    return [
        PhoneRegistration.objects.create(phone_number=f"{prefix}{i:08d}", status="failed")
        for i in range(count)
    ]


def assign(registration: PhoneRegistration, values: dict[str, Any], now: datetime) -> None:
    for name, value in values.items():
        if name == "last_synced_at" and value is not None:
            value = now + timedelta(seconds=value)
        setattr(registration, name, value)


def state(registration: PhoneRegistration) -> dict[str, Any]:
    fresh = model_to_dict(PhoneRegistration.objects.get(pk=registration.pk), fields=NAMES)
    return fresh


class UpdateManyEqualsBulkUpdate(TestCase):
    @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=30)
    @given(st.lists(details, min_size=1, max_size=5))
    def test_the_rows_read_back_the_same(self, changes: list[dict[str, Any]]) -> None:
        ours, django = rows(len(changes), "86138"), rows(len(changes), "86139")
        now = timezone.now()
        for mine, theirs, values in zip(ours, django, changes, strict=True):
            assign(mine, values, now)
            assign(theirs, values, now)
        assert sql_rows.update_many(PhoneRegistration, ours, NAMES)
        PhoneRegistration.objects.bulk_update(django, list(NAMES))
        assert [state(r) for r in ours] == [state(r) for r in django]


class TooLongAlike(TestCase):
    def test_a_value_too_long_for_its_column_is_treated_as_bulk_update_treats_it(self) -> None:
        """PostgreSQL: both cast to the column's type, which cuts 21 characters to 20 (the sync
        cuts its values itself first); SQLite keeps all 21 in both."""
        ours, django = rows(1, "86138"), rows(1, "86139")
        for registration in (*ours, *django):
            registration.number_status = "x" * 21
        sql_rows.update_many(PhoneRegistration, ours, ("number_status",))
        PhoneRegistration.objects.bulk_update(django, ["number_status"])
        assert state(ours[0]) == state(django[0])
