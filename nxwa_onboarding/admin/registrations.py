"""The registration admin: find a number, add one, read where it is; its actions and the
enter-code page are mixins of their own (``actions``, ``check_code``)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from .. import services
from ..addresses import client_ip
from ..models import Channel, CodeRequest, PhoneRegistration, VerificationAttempt
from ..services import policy
from . import presenters
from .audit import AuditTrailProtectionMixin, CodeRequestInline, VerificationAttemptInline
from .breaker import BreakerMixin
from .check_code import CheckCodeMixin
from .closing import CloseActionMixin
from .forms import AddRegistrationForm
from .fraud import GuardBannerMixin
from .funnel import FunnelMixin
from .health import HealthAdminMixin
from .page_actions import PageActionsMixin
from .presenters import EMPTY, check_summary_text, failed_text, is_failed, refusal_notices
from .search import PhoneSearch, PhoneSearchMixin

Send = CodeRequest.Outcome


def annotate_for_changelist(queryset: QuerySet[PhoneRegistration]) -> QuerySet[PhoneRegistration]:
    """Everything the list shows per row, computed in the one query that reads the rows."""
    current_code = CodeRequest.objects.filter(
        registration=OuterRef("pk"), outcome__in=(Send.SENT, Send.UNKNOWN)
    ).order_by("-created_at", "-id")
    attempts_used = (
        VerificationAttempt.objects.filter(
            code_request=OuterRef("nxwa_code_id"), outcome__in=services.COUNTED_ATTEMPTS
        )
        .order_by()
        .values("code_request")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_attempt = (
        VerificationAttempt.objects.filter(registration=OuterRef("pk"))
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    last_send = (
        CodeRequest.objects.filter(registration=OuterRef("pk"))
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    return queryset.annotate(
        nxwa_code_id=Subquery(current_code.values("pk")[:1]),
    ).annotate(
        nxwa_attempts_used=Coalesce(Subquery(attempts_used), 0),
        nxwa_last_activity=Greatest(
            "updated_at",
            Coalesce(Subquery(last_attempt), "updated_at"),
            Coalesce(Subquery(last_send), "updated_at"),
        ),
    )


class RegisteredElsewhereFilter(admin.SimpleListFilter):
    """Numbers NXCloud lists as set up that were never verified here: someone should look."""

    title = _("registered outside this app")
    parameter_name = "elsewhere"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration]) -> Any:
        if self.value() == "yes":
            return queryset.filter(registered_elsewhere_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(registered_elsewhere_at__isnull=True)
        return queryset


class NeedsAttentionFilter(admin.SimpleListFilter):
    """In progress, or with a code out and no attempt, for longer than STUCK_AFTER."""

    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Yes"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration]) -> Any:
        if self.value() == "yes":
            return queryset.filter(services.follow.needs_attention())
        return queryset


def tries_text(obj: PhoneRegistration) -> str:
    """The current code's tries used, of those its application's policy allows."""
    if getattr(obj, "nxwa_code_id", None) is None:
        return EMPTY
    allowed = policy.for_registration(obj).limits.max_check_attempts
    return f"{getattr(obj, 'nxwa_attempts_used', 0)} / {allowed}"


class ListPagesMixin(BreakerMixin, GuardBannerMixin, FunnelMixin):
    """The list's own pages and notices: the funnel; the breaker's banner and resume button; the
    fraud guard's banner."""


class PhoneRegistrationAdmin(
    ListPagesMixin,
    PageActionsMixin,
    CloseActionMixin,
    CheckCodeMixin,
    AuditTrailProtectionMixin,
    PhoneSearchMixin,
    HealthAdminMixin,
):
    list_display = (
        "phone",
        "owner",
        "status_badge",
        "attempts",
        "last_activity",
        "nxcloud_display",
    )
    list_display_links = ("phone",)
    funnel_filters = ("application",)
    list_filter = (
        "status",
        NeedsAttentionFilter,
        RegisteredElsewhereFilter,
        "account_state",
        "application",
        "last_code_method",
        "register_status",
        "created_at",
    )
    list_select_related = ("owner", "application")  # the application: its policy (the rules)
    search_fields = ("phone_number", "owner__username", "owner__email")
    search_help_text = _(
        "Phone number typed any way (with or without +, spaces, hyphens), or the owner's username or email."
    )
    #: A number-like term also matches an owner whose username or email contains it, as typed.
    phone_search = PhoneSearch("phone_number", also=("owner__username", "owner__email"))
    raw_id_fields = ("owner",)
    inlines = (CodeRequestInline, VerificationAttemptInline)
    actions = (
        "send_code_sms",
        "send_code_voice",
        "create_whatsapp_client",
        "refresh_from_nxcloud",
        "close_registrations",
    )
    add_form = AddRegistrationForm
    add_fieldsets = ((None, {"fields": ("phone_number", "owner")}),)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "phone_number",
                    "owner",
                    "status_badge",
                    "situation",
                    "attention",
                    "public_id",
                    "created_by",
                    "created_at",
                    "updated_at",
                )
            },
        ),
        (
            _("Verification"),
            {
                "fields": (
                    "check_summary",
                    "send_summary",
                    "last_code_method",
                    "code_sent_at",
                    "verified_at",
                )
            },
        ),
        (
            _("NXCloud"),
            {
                "fields": (
                    "client_requested_at",
                    "client_refusal",
                    "register_status",
                    "number_status",
                    "quality_rating",
                    "verified_name",
                    "waba_id",
                    "waba_name",
                    "last_synced_at",
                    "registered_at",
                    "registered_elsewhere_at",
                )
            },
        ),
        (_("Closed"), {"fields": ("closed_at", "closed_by", "close_reason")}),
        (
            _("Application and webhook events"),
            {
                "fields": (
                    "application",
                    "account_state",
                    "account_event",
                    "account_event_at",
                    "quality_event",
                    "messaging_limit",
                    "name_decision",
                    "requested_name",
                    "name_rejection_reason",
                    "last_event_at",
                )
            },
        ),
    )
    #: Everything but the owner belongs to the service (or NXCloud): staff read it, never type it.
    readonly_fields = tuple(name for name in flatten_fieldsets(fieldsets) if name != "owner")

    # -- list ------------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[PhoneRegistration]:
        return annotate_for_changelist(super().get_queryset(request))

    @admin.display(description=_("phone number"), ordering="phone_number")
    def phone(self, obj: PhoneRegistration) -> SafeString:
        return format_html('<span class="nxwa-nowrap">{}</span>', obj.formatted_phone)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: PhoneRegistration) -> SafeString:
        return presenters.status_badge(obj)

    @admin.display(description=_("tries"), ordering="nxwa_attempts_used")
    def attempts(self, obj: PhoneRegistration) -> str:
        return tries_text(obj)

    @admin.display(description=_("last activity"), ordering="nxwa_last_activity")
    def last_activity(self, obj: PhoneRegistration) -> SafeString:
        return presenters.time_ago(getattr(obj, "nxwa_last_activity", None) or obj.updated_at)

    @admin.display(description=_("NXCloud"), ordering="number_status")
    def nxcloud_display(self, obj: PhoneRegistration) -> SafeString | str:
        """The number's status and quality rating at NXCloud (the register status is a filter)."""
        if not (obj.number_status or obj.quality_rating):
            return EMPTY
        return format_html("{}<br>{}", obj.number_status, presenters.quality_badge(obj.quality_rating))

    # -- add and change ------------------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: PhoneRegistration | None = None) -> Any:
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: PhoneRegistration | None = None) -> Any:
        return () if obj is None else super().get_readonly_fields(request, obj)

    def get_inlines(self, request: HttpRequest, obj: PhoneRegistration | None) -> Any:
        return () if obj is None else super().get_inlines(request, obj)

    def get_form(
        self, request: HttpRequest, obj: PhoneRegistration | None = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm[PhoneRegistration]]:
        if obj is None:
            kwargs["form"] = self.add_form
            kwargs["fields"] = ("phone_number", "owner")
        return super().get_form(request, obj, change, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: PhoneRegistration, form: ModelForm[PhoneRegistration], change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)  # only the owner is editable
            return
        created = services.create_registration(
            form.cleaned_data["phone_number"],
            owner=form.cleaned_data.get("owner"),
            user=request.user,
            channel=Channel.ADMIN,
        )
        # The admin goes on with ``obj`` (log entry, redirect): make it the saved row.
        for model_field in created._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(created, model_field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as err:
            # Another session opened the same number between the form check and the save; the
            # admin's transaction has been rolled back, so nothing was saved.
            self.message_user(request, " ".join(err.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def _state(self, obj: PhoneRegistration) -> services.RegistrationState:
        cached: services.RegistrationState | None = getattr(obj, "_nxwa_admin_state", None)
        if cached is None:
            cached = services.get_state(obj, channel=Channel.ADMIN)
            obj._nxwa_admin_state = cached  # type: ignore[attr-defined]
        return cached

    @admin.display(description=_("needs attention"))
    def attention(self, obj: PhoneRegistration) -> str:
        return presenters.attention_text(obj) or EMPTY

    @admin.display(description=_("code checks"))
    def check_summary(self, obj: PhoneRegistration) -> str:
        return check_summary_text(self._state(obj).check)

    @admin.display(description=_("code sends"))
    def send_summary(self, obj: PhoneRegistration) -> str:
        return presenters.send_summary_text(self._state(obj).send)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """Staff are told when the installation's daily limit of codes refuses every send."""
        if request.method == "GET" and services.sends_suspended():
            self.message_user(
                request,
                _(
                    "No codes are being sent: MAX_SENDS_PER_DAY_GLOBAL is reached (the last 24 "
                    "hours' sends). Look at who is asking for so many codes before raising it."
                ),
                messages.ERROR,
            )
        extra_context = {**(extra_context or {}), "nxwa_funnel_url": self.funnel_url()}
        return super().changelist_view(request, extra_context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_view_or_change_permission(request, obj):
            state = services.get_state(obj, ip=client_ip(request), channel=Channel.ADMIN)
            # A failed registration is described as every action describes it, once.
            extra_context["nxwa_refusals"] = [failed_text(obj)] if is_failed(obj) else refusal_notices(state)
            extra_context["nxwa_page_actions"] = self.page_actions(request, obj)
            # No button where no code can ever be checked again (verified, closed or failed).
            awaiting = services.decide(obj, state).awaits_code
            extra_context["nxwa_can_verify"] = self.has_verify_phone_permission(request) and awaiting
            extra_context["nxwa_check_code_url"] = presenters.admin_url(
                self.admin_site, obj, "check_code", obj.pk
            )
        return super().change_view(request, object_id, form_url, extra_context)
