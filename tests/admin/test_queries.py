"""The registration changelist makes the same number of queries for 1,000 rows as for 10."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.helpers.admin import CHANGELIST, html, logged_in, populate


def changelist_queries(client: Any, params: dict[str, str] | None = None) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(CHANGELIST), params or {})
    assert response.status_code == 200
    return len(queries), html(response)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status__exact": "code_sent"},
        {"q": "+86 138"},
        {"o": "4"},  # sorted by tries on the current code
        {"o": "-5"},  # sorted by last activity
    ],
)
def test_changelist_queries_do_not_grow_with_the_rows(staff: Any, params: dict[str, str]) -> None:
    client = logged_in(staff)
    populate(10)
    few, page = changelist_queries(client, params)
    assert page.count("1 / 5") == 10

    populate(990, start=10)
    many, page = changelist_queries(client, params)
    assert page.count("1 / 5") == 100  # a full page of rows, each with its tries
    assert many == few, f"{few} queries for 10 rows, {many} for 1,000"
