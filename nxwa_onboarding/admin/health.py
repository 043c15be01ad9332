"""The admin's side of a number's health: the record with each part's source and time and what
the customer is told (the customer's own words, from ``services.health_view``), and Meta's
registration budget for the number (``services.client_setup``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ..models import ClientSetupCall, PhoneRegistration, RefusalReason
from ..services.client_setup import BUDGET, BUDGET_WINDOW, setup_possible_at
from ..services.health import health_of
from ..services.health_view import merchant_view
from ..texts import refusal_text
from .presenters import EMPTY

if TYPE_CHECKING:
    RegistrationAdminBase = admin.ModelAdmin[PhoneRegistration]
else:
    RegistrationAdminBase = admin.ModelAdmin


class HealthAdminMixin(RegistrationAdminBase):
    """The registration admin's base (a ``ModelAdmin``) with the number's health: a "Health"
    fieldset (``health_summary``, ``setup_budget``, read only) and list filters by account state
    and display name review."""

    HEALTH_FIELDS = ("health_summary", "setup_budget")

    def get_list_filter(self, request: HttpRequest) -> Any:
        return (*super().get_list_filter(request), "health__account_state", "health__name_review")

    def get_fieldsets(self, request: HttpRequest, obj: PhoneRegistration | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, (_("Health"), {"fields": self.HEALTH_FIELDS})]

    def get_readonly_fields(self, request: HttpRequest, obj: PhoneRegistration | None = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        return fields if obj is None else (*fields, *self.HEALTH_FIELDS)

    @admin.display(description=_("number health"))
    def health_summary(self, obj: PhoneRegistration) -> SafeString | str:
        """The health the customer sees (their words), with each part's source and time."""
        return health_summary(obj)

    @admin.display(description=_("registration budget"))
    def setup_budget(self, obj: PhoneRegistration) -> str:
        """Meta's 10 registration requests per number in 72 hours: how many are spent, and when
        setup can be tried again if none is left."""
        return setup_budget_text(obj)


def health_summary(obj: PhoneRegistration) -> SafeString | str:
    """The number's health for staff: each part with its value, where and when it was read, and
    what the customer is told (``services.health``: the same words as their page)."""
    record = health_of(obj)
    if record is None:
        return EMPTY
    parts = (
        (
            gettext("account state"),
            record.get_account_state_display(),
            record.account_source,
            record.account_read_at,
        ),
        (
            gettext("display name"),
            " · ".join(
                str(part)
                for part in (
                    record.display_name,
                    record.get_name_review_display(),
                    record.name_rejection_reason,
                )
                if part
            ),
            record.name_source,
            record.name_read_at,
        ),
        (gettext("quality rating"), record.quality_rating, record.quality_source, record.quality_read_at),
        (
            gettext("business messaging limit"),
            record.messaging_limit,
            record.limit_source,
            record.limit_read_at,
        ),
        (
            gettext("two-step PIN set"),
            "" if record.pin_set is None else (gettext("yes") if record.pin_set else gettext("no")),
            record.pin_source,
            record.pin_read_at,
        ),
    )
    rows = [
        format_html(
            "<li>{}: <strong>{}</strong> ({}, {})</li>",
            label,
            value,
            source,
            date_format(timezone.localtime(at), "DATETIME_FORMAT"),
        )
        for label, value, source, at in parts
        if at is not None
    ]
    view = merchant_view(obj)
    told = (
        [format_html("<li>{}: {}</li>", notice.title, notice.next_step) for notice in view.notices]
        if view
        else []
    )
    return format_html(
        "<ul>{}</ul>{}",
        SafeString("".join(rows)),
        format_html("<p>{}</p><ul>{}</ul>", gettext("The customer is told:"), SafeString("".join(told)))
        if told
        else "",
    )


def setup_budget_text(obj: PhoneRegistration) -> str:
    """How much of Meta's registration budget the number has spent, and when setup can be tried
    again when none is left."""
    now = timezone.now()
    spent = ClientSetupCall.objects.filter(
        phone_number=obj.phone_number, refused=False, created_at__gt=now - BUDGET_WINDOW
    ).count()
    text = ngettext(
        "%(spent)d of %(budget)d createClient calls in the last 72 hours.",
        "%(spent)d of %(budget)d createClient calls in the last 72 hours.",
        spent,
    ) % {"spent": spent, "budget": BUDGET}
    until = setup_possible_at(obj.phone_number, now)
    if until is not None:
        text = f"{text} {refusal_text(RefusalReason.SETUP_LIMIT, until, now)}"
    return text
