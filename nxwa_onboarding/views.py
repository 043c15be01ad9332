"""Customer pages (placeholder until the customer-page issue lands)."""

from __future__ import annotations

from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse


def registration_list(request: HttpRequest) -> HttpResponse:
    raise Http404


def start(request: HttpRequest) -> HttpResponse:
    raise Http404


def detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    raise Http404
