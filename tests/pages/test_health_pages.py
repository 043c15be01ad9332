"""The customer page after "registered": the number's health in a merchant's words, when setup can
be tried again, withdrawing a number not yet verified, and the open limit's way to a number
already open."""

from __future__ import annotations

import pytest
from django.test import Client

from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.pages import start, start_response
from tests.helpers.services import rules

pytestmark = pytest.mark.django_db

NUMBERS = ["+86 138 0013 8000", "+86 139 0013 9000", "+86 137 0013 7000"]


def test_at_the_open_limit_retyping_an_open_number_goes_to_it(
    signed_in: Client, nxcloud: FakeNXCloud
) -> None:
    with rules(MAX_OPEN_REGISTRATIONS_PER_OWNER=2):
        first = start(signed_in, NUMBERS[0])
        start(signed_in, NUMBERS[1])
        response = start_response(signed_in, NUMBERS[0])
    assert response.status_code == 302
    assert response["Location"] == first.get_absolute_url()
    assert len(nxcloud.calls_to("getCode")) == 2
