"""What keeps the audit lists' speed flat as the tables grow: an estimated count and a user
filter that reads the user table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from ..services import sql

if TYPE_CHECKING:
    PaginatorBase = Paginator[Any]
else:  # Paginator is not subscriptable at run time
    PaginatorBase = Paginator


#: Up to this many rows the audit lists count exactly; past it an unfiltered list is estimated.
EXACT_COUNT_UP_TO = 10_000


def _significant(value: int, digits: int = 3) -> int:
    """``500568`` → ``501000``: an estimate shown with the precision it has."""
    return round(value, digits - len(str(value))) if len(str(value)) > digits else value


class EstimatedCountPaginator(PaginatorBase):
    """Counts exactly up to ``exact_up_to`` rows; past that, an unfiltered PostgreSQL list is estimated.

    Counting a big audit table is a full scan (twice per page with Django's defaults) that grows
    with the table. Here one query (``services.sql.count_or_estimate``) counts at most
    ``exact_up_to + 1`` rows and reads the planner's row estimate, so a page costs the same
    whatever the table's size (benchmarks/HISTORY.md has the figures).
    A filtered or searched list, and any list on another database, is counted exactly.
    ``count_is_estimate`` tells the templates to say "about".
    """

    exact_up_to = EXACT_COUNT_UP_TO
    count_is_estimate = False

    @cached_property
    def lists_whole_table(self) -> bool:
        """True when nothing filters or searches the list: every row of the table is in it."""
        queryset = self.object_list
        return isinstance(queryset, QuerySet) and not queryset.query.where and not queryset.query.distinct

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not self.lists_whole_table or not isinstance(queryset, QuerySet):
            return super().count
        counted = sql.count_or_estimate(queryset.model, queryset.db, self.exact_up_to)
        if counted is None:  # not PostgreSQL: an exact count
            return super().count
        count, estimated = counted
        self.count_is_estimate = estimated
        return _significant(count) if estimated else count


class StaffUserListFilter(admin.RelatedFieldListFilter):
    """ "By user" listing the staff who have rows here, read from the user table.

    Django's ``RelatedOnlyFieldListFilter`` finds its users with ``DISTINCT user_id`` over the
    whole audit table, on every page. This asks the user table for
    its staff, each checked with one index probe for a row, so the cost follows the number of
    staff, not of rows. Merchants' own tries are found by searching their username or number;
    a ``user__id__exact`` link to any user still filters, and that user is listed as selected.
    """

    def field_choices(
        self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, Any]]:
        user_model = field.remote_field.model
        has_rows = field.model._default_manager.filter(**{field.name: OuterRef("pk")})
        wanted = Q(Exists(has_rows))
        if any(f.name == "is_staff" for f in user_model._meta.get_fields()):
            wanted &= Q(is_staff=True)
        selected = []
        for value in _as_list(self.lookup_val):
            try:
                selected.append(user_model._meta.pk.to_python(value))
            except ValidationError:
                continue  # Django's own lookup reports the bad value
        if selected:
            wanted |= Q(pk__in=selected)
        ordering = self.field_admin_ordering(field, request, model_admin)
        users = user_model._default_manager.filter(wanted).order_by(*ordering)
        return [(str(user.pk), str(user)) for user in users]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
