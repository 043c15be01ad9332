"""The audit lists at scale: the same queries for 1,000 rows as for 10, none that reads the whole
table to draw a filter, and on PostgreSQL an unfiltered count past the threshold that is an
estimate, said to be one ("about …")."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nxwa_onboarding.admin import EstimatedCountPaginator, StaffUserListFilter
from nxwa_onboarding.models import CodeRequest, PhoneRegistration, VerificationAttempt
from tests.helpers.admin import html, logged_in, populate
from tests.helpers.users import make_user

MODELS: dict[str, type[VerificationAttempt] | type[CodeRequest]] = {
    "verificationattempt": VerificationAttempt,
    "coderequest": CodeRequest,
}


def changelist(model: str) -> str:
    return reverse(f"admin:nxwa_onboarding_{model}_changelist")


def get_list(client: Any, model: str, params: dict[str, Any] | None = None) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(changelist(model), params or {})
    assert response.status_code == 200
    return response, [q["sql"] for q in queries.captured_queries]


def filter_block(page: str, title: str) -> str:
    match = re.search(rf'<details data-filter-title="{title}".*?</details>', page, re.S)
    assert match, f"no {title!r} filter on the page"
    return match.group(0)


def result_count_beside_search(page: str) -> str | None:
    match = re.search(r'<span class="small quiet">(.*?)\(', page, re.S)
    return match.group(1).strip() if match else None


def paginator_text(page: str) -> str:
    match = re.search(r'<p class="paginator">(.*?)</p>', page, re.S)
    assert match
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def give_rows_to(user: Any) -> None:
    """Attribute a few audit rows to ``user`` (as if they had acted in the admin)."""
    for model in MODELS.values():
        pks = list(model.objects.order_by("pk").values_list("pk", flat=True)[:3])
        model.objects.filter(pk__in=pks).update(user=user)


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"outcome__exact": "rejected"},
        {"channel__exact": "admin"},
        {"user__id__exact": "STAFF"},
        {"q": "+86 138"},
        {"created_at__gte": "2000-01-01 00:00:00+00:00"},
    ],
    ids=["all", "outcome", "channel", "user", "search", "date"],
)
def test_audit_list_queries_do_not_grow_with_the_rows(staff: Any, model: str, params: dict[str, str]) -> None:
    client = logged_in(staff)
    params = {k: str(staff.pk) if v == "STAFF" else v for k, v in params.items()}
    populate(10)
    give_rows_to(staff)
    _, few = get_list(client, model, params)

    populate(990, start=10)
    response, many = get_list(client, model, params)
    assert len(many) == len(few), f"{len(few)} queries for 10 rows, {len(many)} for 1,000:\n" + "\n".join(
        many
    )
    cl = response.context["cl"]
    assert len(cl.result_list) == min(cl.result_count, 100)
    if not params:
        assert cl.result_count == 1000
    if "user__id__exact" in params:
        assert cl.result_count == 3
    # What made the list slow on a large table (each reads every row): DISTINCT user_id for the
    # user filter, DISTINCT date_trunc and MIN/MAX for the date hierarchy, a second full COUNT.
    joined = "\n".join(many).upper()
    assert "DISTINCT" not in joined
    assert "TRUNC" not in joined
    assert "MIN(" not in joined
    assert sum(sql.upper().count("COUNT(") >= 1 for sql in many) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
def test_the_user_filter_lists_the_staff_who_acted_and_keeps_any_selected_user(
    staff: Any, staff_viewer: Any, customer: Any, trail: PhoneRegistration, model: str
) -> None:
    # trail: the customer's tries from the customer page, the staff member's from the admin.
    idle_staff = make_user("idle-staff", staff=True)
    client = logged_in(staff)
    row_model = MODELS[model]
    row_model.objects.filter(user__isnull=True).update(user=staff)  # code requests: staff acted too

    response, _ = get_list(client, model)
    block = filter_block(html(response), "user")
    assert ">staff<" in block
    assert ">customer<" not in block  # a merchant's tries are found by searching their name or number
    assert idle_staff.username not in block
    assert staff_viewer.username not in block
    spec = next(s for s in response.context["cl"].filter_specs if isinstance(s, StaffUserListFilter))
    assert [label for _, label in spec.lookup_choices] == ["staff"]

    # A link to a merchant's rows (user__id__exact, as before) still filters, and shows them selected.
    response, _ = get_list(client, model, {"user__id__exact": str(customer.pk)})
    cl = response.context["cl"]
    expected = row_model.objects.filter(user=customer).count()
    assert cl.result_count == expected
    assert {row.user_id for row in cl.result_list} <= {customer.pk}
    selected = re.search(
        r'<li class="selected">\s*<a [^>]*>([^<]*)</a>', filter_block(html(response), "user")
    )
    assert selected is not None
    assert selected.group(1) == "customer"


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["abc", "1.5", ""])
def test_a_bad_user_id_in_the_url_does_not_break_the_list(
    staff: Any, trail: PhoneRegistration, bad: str
) -> None:
    response = logged_in(staff).get(changelist("verificationattempt"), {"user__id__exact": bad})
    assert response.status_code in (200, 302)
    if response.status_code == 302:  # Django's "invalid lookup" redirect (?e=1), never a 500
        assert "e=1" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
def test_past_the_threshold_an_unfiltered_list_is_estimated_on_postgresql_and_says_so(
    staff: Any, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 50)
    client = logged_in(staff)
    populate(30)
    response, _ = get_list(client, model)
    page = html(response)
    assert response.context["cl"].result_count == 30
    assert response.context["cl"].paginator.count_is_estimate is False
    assert paginator_text(page) == f"30 {MODELS[model]._meta.verbose_name_plural}"
    assert result_count_beside_search(page) is None  # an unfiltered list does not repeat its size

    populate(170, start=30)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # what autovacuum does as a table grows
            cursor.execute(f"ANALYZE {connection.ops.quote_name(MODELS[model]._meta.db_table)}")
    response, _ = get_list(client, model)
    page = html(response)
    cl = response.context["cl"]
    plural = MODELS[model]._meta.verbose_name_plural
    if connection.vendor == "postgresql":
        assert cl.paginator.count_is_estimate is True
        assert cl.result_count == 200  # ANALYZE read every row of so small a table
        assert f"about 200 {plural}" in paginator_text(page)
    else:  # no cheap estimate elsewhere: counted exactly
        assert cl.paginator.count_is_estimate is False
        assert f"200 {plural}" in paginator_text(page)
        assert "about" not in paginator_text(page)
    assert len(cl.result_list) == 100
    assert result_count_beside_search(page) is None

    # Filtered or searched: always exact, and the size shown beside the search box.
    response, _ = get_list(
        client, model, {"outcome__exact": "rejected" if model == "verificationattempt" else "sent"}
    )
    page = html(response)
    assert response.context["cl"].paginator.count_is_estimate is False
    assert response.context["cl"].result_count == 200
    assert result_count_beside_search(page) == "200 results"
    assert "about" not in paginator_text(page)


def test_the_estimate_is_rounded_to_the_precision_it_has() -> None:
    from nxwa_onboarding.admin import _significant

    assert _significant(500_568) == 501_000
    assert _significant(100_565) == 101_000
    assert _significant(10_001) == 10_000
    assert _significant(999) == 999


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
def test_an_address_is_searched_exactly_through_the_ip_index(
    staff: Any, trail: PhoneRegistration, model: str
) -> None:
    row_model = MODELS[model]
    other = row_model.objects.exclude(ip="198.51.100.7").first()
    assert other is not None
    row_model.objects.filter(pk=other.pk).update(ip="198.51.100.70")  # shares the prefix, not the address
    response, queries = get_list(logged_in(staff), model, {"q": " 198.51.100.7 "})
    rows = list(response.context["cl"].result_list)
    assert rows
    assert {r.ip for r in rows} == {"198.51.100.7"}
    assert {r.pk for r in rows} == set(
        row_model.objects.filter(ip="198.51.100.7").values_list("pk", flat=True)
    )
    assert not any("LIKE" in sql.upper() for sql in queries)
