"""The one search every list uses: a phone number however it is typed, or an IP address.

``+86 138-0013-8000``, ``0086…`` and ``8613800…`` find the same number; on a list with an IP
column, an address is matched exactly (its index finds it; "contains" over several columns would
scan them all). Anything else goes to the admin's own ``search_fields`` search.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest

from ..phone import digits_only

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    SearchBase = ModelAdmin[Any]
else:  # a mixin of the ModelAdmin, whose get_search_results it overrides
    SearchBase = object

#: A search term made only of what people put in a phone number: digits, +, spaces, - ( ) .
PHONE_LIKE = re.compile(r"[0-9+\s\-().]+")


@dataclass(frozen=True)
class PhoneSearch:
    """Where a list keeps the number, and what else a number-like term matches.

    ``phone_field``: the digits column (``phone_number``, ``registration__phone_number``);
    ``ip_field``: an IP column, matched exactly when the term is an address; ``also``: text
    columns a number-like term also matches (``icontains``), as typed.
    """

    phone_field: str
    ip_field: str | None = None
    also: tuple[str, ...] = ()

    def filter(self, queryset: QuerySet[Any], search_term: str) -> QuerySet[Any] | None:
        """The rows the term finds, or None when it is neither an address nor a number."""
        term = search_term.strip()
        if self.ip_field is not None and is_ip_address(term):
            return queryset.filter(**{self.ip_field: term})
        digits = digits_only(term)
        if not (PHONE_LIKE.fullmatch(term) and len(digits) >= 3):
            return None
        if self.ip_field is not None and looks_like_ip(term):
            return None  # a mistyped address: the ordinary search looks in the IP column too
        if term.startswith("00"):
            digits = digits[2:]  # 0086 … is +86 …
        query = Q(**{f"{self.phone_field}__contains": digits})
        for name in self.also:
            query |= Q(**{f"{name}__icontains": term})
        return queryset.filter(query)


class PhoneSearchMixin(SearchBase):
    """A ModelAdmin whose search box takes numbers (and addresses) the way ``phone_search`` says."""

    phone_search: PhoneSearch

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        found = self.phone_search.filter(queryset, search_term)
        if found is None:
            return super().get_search_results(request, queryset, search_term)
        return found, False


def is_ip_address(term: str) -> bool:
    try:
        ipaddress.ip_address(term)
    except ValueError:
        return False
    return True


def looks_like_ip(term: str) -> bool:
    return term.count(".") == 3 and " " not in term
