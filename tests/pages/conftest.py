"""Fixtures shared by the tests in this folder."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client


@pytest.fixture
def signed_in(client: Client, customer: Any) -> Client:
    client.force_login(customer)
    return client
