"""The staff admin: find a registration, send codes, enter the code a merchant reads out, audit.

Every state change goes through ``nxwa_onboarding.services``; nothing here builds a client.
Permissions: ``verify_phone`` guards the enter-code page and its button; ``send_code`` guards
the two send actions and "create the WhatsApp client" (it acts on NXCloud on the merchant's
behalf and cannot be undone); "refresh status from NXCloud" only reads NXCloud and updates our
copy, so the ordinary change permission guards it. The audit admins are view-only for everyone,
and a registration with audit rows cannot be deleted from the admin.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..addresses import client_ip
from ..conf import conf
from ..exceptions import (
    InvalidStateError,
    NXCloudAuthError,
    NXCloudConfigurationError,
    NXCloudError,
    NXCloudNotIntegratorError,
    NXCloudParameterError,
    TransportError,
)
from ..models import Channel, CodeRequest, Method, PhoneRegistration, RefusalReason, VerificationAttempt
from ..phone import digits_only
from ..texts import configuration_problem_text, is_configuration_failure, refusal_text, until_text
from .forms import AddRegistrationForm, CheckCodeForm

if TYPE_CHECKING:
    RegistrationAdminBase = admin.ModelAdmin[PhoneRegistration]
    CodeRequestAdminBase = admin.ModelAdmin[CodeRequest]
    AttemptAdminBase = admin.ModelAdmin[VerificationAttempt]
    AuditAdminBase = admin.ModelAdmin[Any]
    AuditInlineBase = admin.TabularInline[Any, PhoneRegistration]
    PaginatorBase = Paginator[Any]
else:  # the admin classes are not subscriptable at run time
    RegistrationAdminBase = CodeRequestAdminBase = AttemptAdminBase = AuditAdminBase = admin.ModelAdmin
    AuditInlineBase = admin.TabularInline
    PaginatorBase = Paginator

Status = PhoneRegistration.Status
Attempt = VerificationAttempt.Outcome
Send = CodeRequest.Outcome

#: A search term made only of what people put in a phone number: digits, +, spaces, - ( ) .
PHONE_LIKE = re.compile(r"[0-9+\s\-().]+")
#: How many numbers one message lists before "and N more".
LISTED_NUMBERS = 10
#: How a method reads inside a sentence ("sent by SMS", "sent by voice call").
METHOD_WORDS = {Method.SMS: _("SMS"), Method.VOICE: _("voice call")}
EMPTY = "—"


# -- small helpers -------------------------------------------------------------------------------


def _numbers(registrations: Sequence[PhoneRegistration]) -> str:
    """``+86 138 0013 8000, +86 139 …`` and, past ten, "and 3 more"."""
    shown = ", ".join(r.formatted_phone for r in registrations[:LISTED_NUMBERS])
    rest = len(registrations) - LISTED_NUMBERS
    if rest > 0:
        shown += " " + ngettext("and %(n)d more", "and %(n)d more", rest) % {"n": rest}
    return shown


def _latest(times: Iterable[datetime | None]) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def configuration_message(row: CodeRequest | VerificationAttempt) -> str:
    return configuration_problem_text(row.result_code, row.result_message)


def _error_configuration_message(err: Exception) -> str:
    if isinstance(err, NXCloudError):
        return configuration_problem_text(err.code, err.message)
    return configuration_problem_text(None, str(err))


CONFIGURATION_ERRORS = (
    NXCloudConfigurationError,
    NXCloudAuthError,
    NXCloudParameterError,
    NXCloudNotIntegratorError,
)


def badge(kind: str, label: Any) -> SafeString:
    return format_html('<span class="nxwa-badge nxwa-badge--{}">{}</span>', kind, label)


# -- registrations ---------------------------------------------------------------------------------


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


class AuditInline(AuditInlineBase):
    """A registration's code requests or attempts, newest first: read-only, like the audit admins."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    ordering = ("-created_at", "-id")
    classes = ("nxwa-audit-inline",)

    @admin.display(description=_("outcome"))
    def outcome_badge(self, obj: Any) -> SafeString:
        return badge("outcome-" + obj.outcome, obj.get_outcome_display())

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("user", "registration")

    def has_add_permission(self, request: HttpRequest, obj: PhoneRegistration | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PhoneRegistration | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PhoneRegistration | None = None) -> bool:
        return False


class CodeRequestInline(AuditInline):
    model = CodeRequest
    verbose_name = _("code sent")
    verbose_name_plural = _("codes sent (newest first)")
    fields = (
        "created_at",
        "method",
        "outcome_badge",
        "refusal_reason",
        "retry_after",
        "channel",
        "user",
        "ip",
        "result_code",
        "result_message",
        "duration_ms",
    )
    readonly_fields = fields


class VerificationAttemptInline(AuditInline):
    model = VerificationAttempt
    verbose_name = _("verification attempt")
    verbose_name_plural = _("verification attempts (newest first)")
    # The code is never stored; its digest is not shown either: it tells staff nothing.
    fields = (
        "created_at",
        "outcome_badge",
        "refusal_reason",
        "retry_after",
        "channel",
        "user",
        "ip",
        "result_code",
        "result_message",
        "duration_ms",
    )
    readonly_fields = fields


@dataclass
class Outcomes:
    """Rows of one bulk action grouped by how they ended, for one message per group."""

    done: list[PhoneRegistration] = field(default_factory=list)
    already: list[PhoneRegistration] = field(default_factory=list)
    refused: dict[str, list[tuple[PhoneRegistration, datetime | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    rejected: dict[tuple[int | None, str], list[PhoneRegistration]] = field(
        default_factory=lambda: defaultdict(list)
    )
    unreachable: list[PhoneRegistration] = field(default_factory=list)
    unknown: list[PhoneRegistration] = field(default_factory=list)
    configuration: str = ""
    not_tried: list[PhoneRegistration] = field(default_factory=list)


@admin.register(PhoneRegistration)
class PhoneRegistrationAdmin(RegistrationAdminBase):
    list_display = (
        "phone",
        "owner",
        "status_badge",
        "attempts",
        "last_activity",
        "nxcloud_display",
    )
    list_display_links = ("phone",)
    list_filter = ("status", "last_code_method", "register_status", "created_at")
    list_select_related = ("owner",)
    search_fields = ("phone_number", "owner__username", "owner__email")
    search_help_text = _(
        "Phone number typed any way (with or without +, spaces, hyphens), or the owner's username or email."
    )
    raw_id_fields = ("owner",)
    inlines = (CodeRequestInline, VerificationAttemptInline)
    actions = ("send_code_sms", "send_code_voice", "create_whatsapp_client", "refresh_from_nxcloud")
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
                    "register_status",
                    "number_status",
                    "quality_rating",
                    "verified_name",
                    "waba_id",
                    "waba_name",
                    "last_synced_at",
                    "registered_at",
                )
            },
        ),
    )
    #: Everything but the owner belongs to the service (or NXCloud): staff read it, never type it.
    readonly_fields = (
        "phone_number",
        "status_badge",
        "public_id",
        "created_by",
        "created_at",
        "updated_at",
        "check_summary",
        "send_summary",
        "last_code_method",
        "code_sent_at",
        "verified_at",
        "client_requested_at",
        "register_status",
        "number_status",
        "quality_rating",
        "verified_name",
        "waba_id",
        "waba_name",
        "last_synced_at",
        "registered_at",
    )

    # -- permissions ---------------------------------------------------------------------------

    def has_send_code_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.send_code")

    def has_verify_phone_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.verify_phone")

    # -- list ------------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[PhoneRegistration]:
        return annotate_for_changelist(super().get_queryset(request))

    @admin.display(description=_("phone number"), ordering="phone_number")
    def phone(self, obj: PhoneRegistration) -> SafeString:
        return format_html('<span class="nxwa-nowrap">{}</span>', obj.formatted_phone)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: PhoneRegistration) -> SafeString:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description=_("tries"), ordering="nxwa_attempts_used")
    def attempts(self, obj: PhoneRegistration) -> str:
        if getattr(obj, "nxwa_code_id", None) is None:
            return EMPTY
        return f"{getattr(obj, 'nxwa_attempts_used', 0)} / {conf.MAX_CHECK_ATTEMPTS}"

    @admin.display(description=_("last activity"), ordering="nxwa_last_activity")
    def last_activity(self, obj: PhoneRegistration) -> SafeString:
        value: datetime = getattr(obj, "nxwa_last_activity", None) or obj.updated_at
        return format_html(
            '<time class="nxwa-nowrap" datetime="{}" title="{}">{}</time>',
            value.isoformat(),
            date_format(timezone.localtime(value), "DATETIME_FORMAT"),
            gettext("%(time)s ago") % {"time": timesince(value, depth=1)}
            if timezone.now() - value >= timedelta(minutes=1)
            else gettext("just now"),
        )

    @admin.display(description=_("NXCloud"), ordering="number_status")
    def nxcloud_display(self, obj: PhoneRegistration) -> SafeString | str:
        """The number's status and quality rating at NXCloud (the register status is a filter)."""
        if not (obj.number_status or obj.quality_rating):
            return EMPTY
        quality = (
            badge("quality-" + obj.quality_rating.lower(), obj.quality_rating) if obj.quality_rating else ""
        )
        return format_html("{}<br>{}", obj.number_status, quality)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[PhoneRegistration], search_term: str
    ) -> tuple[QuerySet[PhoneRegistration], bool]:
        """A number matches however it is typed: ``+86 138-0013-8000``, ``0086…``, ``8613800…``."""
        term = search_term.strip()
        digits = digits_only(term)
        if not (PHONE_LIKE.fullmatch(term) and len(digits) >= 3):
            return super().get_search_results(request, queryset, search_term)
        if term.startswith("00"):
            digits = digits[2:]  # 0086 … is +86 …
        query = (
            Q(phone_number__contains=digits)
            | Q(owner__username__icontains=term)
            | Q(owner__email__icontains=term)
        )
        return queryset.filter(query), False

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
            form.cleaned_data["phone_number"], owner=form.cleaned_data.get("owner"), user=request.user
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
            cached = services.get_state(obj)
            obj._nxwa_admin_state = cached  # type: ignore[attr-defined]
        return cached

    @admin.display(description=_("code checks"))
    def check_summary(self, obj: PhoneRegistration) -> str:
        return check_summary_text(self._state(obj).check)

    @admin.display(description=_("code sends"))
    def send_summary(self, obj: PhoneRegistration) -> str:
        state = self._state(obj).send
        if state.refusal is not None:
            return state.refusal.message
        return gettext("A code can be sent now (%(used)d of %(allowed)d sent in the last 24 hours).") % {
            "used": state.sends_today,
            "allowed": state.sends_allowed,
        }

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
            state = services.get_state(obj, ip=client_ip(request))
            extra_context["nxwa_refusals"] = refusal_notices(state)
            # No button where no code can ever be checked again (verified, or closed).
            finished = state.check.refusal is not None and state.check.refusal.reason in (
                RefusalReason.ALREADY_VERIFIED,
                RefusalReason.CLOSED,
            )
            extra_context["nxwa_can_verify"] = self.has_verify_phone_permission(request) and not finished
            extra_context["nxwa_check_code_url"] = reverse(
                f"{self.admin_site.name}:nxwa_onboarding_phoneregistration_check_code",
                args=[quote(obj.pk)],
            )
        return super().change_view(request, object_id, form_url, extra_context)

    # -- delete: never silently destroy the audit trail --------------------------------------

    def get_deleted_objects(
        self, objs: Sequence[PhoneRegistration] | QuerySet[PhoneRegistration], request: HttpRequest
    ) -> tuple[list[Any], dict[Any, Any], set[Any], list[Any]]:
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        pks = [obj.pk for obj in objs]
        audited = (
            PhoneRegistration.objects.filter(pk__in=pks)
            .annotate(sends=Count("code_requests", distinct=True), tries=Count("attempts", distinct=True))
            .filter(Q(sends__gt=0) | Q(tries__gt=0))
            .order_by("phone_number")
        )
        for registration in audited:
            sends: int = registration.sends  # type: ignore[attr-defined]  # annotated above
            tries: int = registration.tries  # type: ignore[attr-defined]
            protected.append(
                gettext("%(phone)s: its audit trail of %(sends)s and %(tries)s")
                % {
                    "phone": registration.formatted_phone,
                    "sends": ngettext("%(n)d code request", "%(n)d code requests", sends) % {"n": sends},
                    "tries": ngettext("%(n)d verification attempt", "%(n)d verification attempts", tries)
                    % {"n": tries},
                }
            )
        if protected:
            # Say why (the audit trail), rather than "you may not delete code requests": the
            # audit admins refuse deletes to everyone, superusers included.
            perms_needed -= {
                str(CodeRequest._meta.verbose_name),
                str(VerificationAttempt._meta.verbose_name),
            }
        return to_delete, model_count, perms_needed, protected

    # -- enter the code ----------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = (self.opts.app_label, self.opts.model_name)
        custom = [
            path(
                "<path:object_id>/check-code/",
                self.admin_site.admin_view(self.check_code_view),
                name="{}_{}_check_code".format(*info),
            ),
        ]
        return custom + super().get_urls()

    def check_code_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_verify_phone_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(gettext("That registration does not exist."))
        change_url = reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change",
            args=[quote(obj.pk)],
        )
        if request.method == "POST":
            form = CheckCodeForm(request.POST)
            if form.is_valid():
                attempt = services.check_code(
                    obj,
                    form.cleaned_data["code"],
                    user=request.user,
                    ip=client_ip(request),
                    channel=Channel.ADMIN,
                )
                level, text = check_outcome_message(obj, attempt, ip=client_ip(request))
                self.message_user(request, text, level)
                return HttpResponseRedirect(change_url)
        else:
            form = CheckCodeForm()
        state = services.get_state(obj, ip=client_ip(request))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Enter verification code"),
            "subtitle": obj.formatted_phone,
            "opts": self.opts,
            "original": obj,
            "form": form,
            "errors": form.errors,
            "change_url": change_url,
            "has_view_permission": self.has_view_permission(request, obj),
            "check_summary": check_summary_text(state.check),
            "refusals": [state.check.refusal.message] if state.check.refusal is not None else [],
            "app_label": self.opts.app_label,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/nxwa_onboarding/phoneregistration/check_code.html", context)

    # -- actions ---------------------------------------------------------------------------------

    def _confirm(
        self,
        request: HttpRequest,
        queryset: QuerySet[PhoneRegistration],
        *,
        action: str,
        title: str,
        question: str,
        button: str,
        note: Callable[[PhoneRegistration], str],
    ) -> TemplateResponse | None:
        """Django's delete-confirmation pattern: None once confirmed, else the confirmation page."""
        if request.POST.get("post") == "yes":
            return None
        rows = [(registration, note(registration)) for registration in queryset]
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "question": question,
            "button": button,
            "rows": rows,
            "queryset": queryset,
            "action": action,
            "opts": self.opts,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/nxwa_onboarding/phoneregistration/action_confirmation.html", context
        )

    def _send_note(self, registration: PhoneRegistration) -> str:
        refusal = services.get_state(registration).send.refusal
        if refusal is None:
            return gettext("will be sent")
        return gettext("will be refused: %(why)s") % {"why": refusal.message}

    def _send(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration], method: str) -> Any:
        label = str(METHOD_WORDS[Method(method)])
        confirmation = self._confirm(
            request,
            queryset,
            action=f"send_code_{method}",
            title=gettext("Send a code by %(method)s") % {"method": label},
            question=gettext(
                "NXCloud charges for every code it sends, and WhatsApp limits how many a number may "
                "receive. Send a verification code by %(method)s to these numbers?"
            )
            % {"method": label},
            button=gettext("Yes, send the codes"),
            note=self._send_note,
        )
        if confirmation is not None:
            return confirmation
        outcomes = Outcomes()
        registrations = list(queryset.order_by("phone_number"))
        for index, registration in enumerate(registrations):
            code_request = services.request_code(
                registration, method, user=request.user, ip=client_ip(request), channel=Channel.ADMIN
            )
            if code_request.outcome == Send.SENT:
                outcomes.done.append(registration)
            elif code_request.outcome == Send.REFUSED:
                outcomes.refused[code_request.refusal_reason].append((registration, code_request.retry_after))
            elif code_request.outcome == Send.UNKNOWN:
                outcomes.unknown.append(registration)
            elif is_configuration_failure(code_request):
                # The same problem would hit every number: stop rather than repeat it.
                outcomes.configuration = configuration_message(code_request)
                outcomes.not_tried = registrations[index + 1 :]
                break
            elif code_request.outcome == Send.FAILED:
                outcomes.unreachable.append(registration)
            else:
                key = (code_request.result_code, code_request.result_message)
                outcomes.rejected[key].append(registration)
        done = ngettext(
            "Code sent by %(method)s to %(count)d number: %(numbers)s.",
            "Code sent by %(method)s to %(count)d numbers: %(numbers)s.",
            len(outcomes.done),
        )
        unknown = ngettext(
            "NXCloud's answer did not arrive for %(count)d number (%(numbers)s): the code may have been "
            "sent. Wait for it before sending another.",
            "NXCloud's answer did not arrive for %(count)d numbers (%(numbers)s): the codes may have been "
            "sent. Wait for them before sending others.",
            len(outcomes.unknown),
        )
        self._report(request, outcomes, done=done, method=label, unknown=unknown)
        return None

    @admin.action(description=_("Send a code by SMS"), permissions=["send_code"])
    def send_code_sms(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration]) -> Any:
        return self._send(request, queryset, Method.SMS)

    @admin.action(description=_("Send a code by voice call"), permissions=["send_code"])
    def send_code_voice(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration]) -> Any:
        return self._send(request, queryset, Method.VOICE)

    def _client_note(self, registration: PhoneRegistration) -> str:
        if registration.status in (Status.CLIENT_CREATED, Status.REGISTERED):
            return gettext("already has its client: nothing to do")
        if registration.status != Status.VERIFIED:
            return gettext("not verified yet: will be skipped")
        return gettext("will be created")

    @admin.action(description=_("Create the WhatsApp client"), permissions=["send_code"])
    def create_whatsapp_client(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration]) -> Any:
        confirmation = self._confirm(
            request,
            queryset,
            action="create_whatsapp_client",
            title=gettext("Create the WhatsApp client"),
            question=gettext(
                "NXCloud will create and register the WhatsApp client of each verified number. "
                "This cannot be undone from here. Go ahead?"
            ),
            button=gettext("Yes, create the clients"),
            note=self._client_note,
        )
        if confirmation is not None:
            return confirmation
        outcomes = Outcomes()
        not_verified: list[PhoneRegistration] = []
        registrations = list(queryset.order_by("phone_number"))
        for index, registration in enumerate(registrations):
            before = registration.status
            try:
                services.create_client(registration, user=request.user)
            except InvalidStateError:
                not_verified.append(registration)
                continue
            except CONFIGURATION_ERRORS as err:
                outcomes.configuration = _error_configuration_message(err)
                outcomes.not_tried = registrations[index + 1 :]
                break
            except NXCloudError as err:
                outcomes.rejected[(err.code, err.message)].append(registration)
                continue
            except TransportError as err:
                (outcomes.unknown if err.sent else outcomes.unreachable).append(registration)
                continue
            if before in (Status.CLIENT_CREATED, Status.REGISTERED):
                outcomes.already.append(registration)
            else:
                outcomes.done.append(registration)
        done = ngettext(
            "WhatsApp client created for %(count)d number: %(numbers)s.",
            "WhatsApp clients created for %(count)d numbers: %(numbers)s.",
            len(outcomes.done),
        )
        unknown = ngettext(
            "NXCloud's answer did not arrive for %(count)d number (%(numbers)s): its client may have been "
            "created. Refresh the status from NXCloud before trying again.",
            "NXCloud's answer did not arrive for %(count)d numbers (%(numbers)s): their clients may have "
            "been created. Refresh the status from NXCloud before trying again.",
            len(outcomes.unknown),
        )
        self._report(request, outcomes, done=done, unknown=unknown)
        if outcomes.already:
            self.message_user(
                request,
                ngettext(
                    "%(count)d number already had its client: %(numbers)s.",
                    "%(count)d numbers already had their clients: %(numbers)s.",
                    len(outcomes.already),
                )
                % {"count": len(outcomes.already), "numbers": _numbers(outcomes.already)},
                messages.INFO,
            )
        if not_verified:
            self.message_user(
                request,
                ngettext(
                    "Skipped %(count)d number that is not verified yet: %(numbers)s.",
                    "Skipped %(count)d numbers that are not verified yet: %(numbers)s.",
                    len(not_verified),
                )
                % {"count": len(not_verified), "numbers": _numbers(not_verified)},
                messages.WARNING,
            )
        return None

    @admin.action(description=_("Refresh status from NXCloud"), permissions=["change"])
    def refresh_from_nxcloud(self, request: HttpRequest, queryset: QuerySet[PhoneRegistration]) -> None:
        # One phoneList read updates every open registration NXCloud lists: cheaper than a read
        # per selected row, changes nothing at NXCloud, so no confirmation step.
        selected = {r.pk: r.status for r in queryset}
        started = timezone.now()
        try:
            services.sync_statuses()
        except CONFIGURATION_ERRORS as err:
            self.message_user(request, _error_configuration_message(err), messages.ERROR)
            return
        except NXCloudError as err:
            self.message_user(
                request,
                gettext("NXCloud refused to list the numbers (result %(code)s: %(message)s).")
                % {"code": err.code, "message": err.message},
                messages.ERROR,
            )
            return
        except TransportError:
            self.message_user(
                request, gettext("NXCloud could not be reached: nothing was refreshed."), messages.ERROR
            )
            return
        fresh = list(PhoneRegistration.objects.filter(pk__in=selected).order_by("phone_number"))
        listed = [r for r in fresh if r.last_synced_at is not None and r.last_synced_at >= started]
        unlisted = [r for r in fresh if r not in listed]
        changed = [r for r in listed if r.status != selected[r.pk]]
        text = ngettext(
            "Refreshed from NXCloud: %(listed)d of the %(count)d selected number is listed.",
            "Refreshed from NXCloud: %(listed)d of the %(count)d selected numbers are listed.",
            len(fresh),
        ) % {"listed": len(listed), "count": len(fresh)}
        if changed:
            text += " " + gettext("Status changed for %(numbers)s.") % {
                "numbers": ", ".join(
                    f"{r.formatted_phone} ({Status(selected[r.pk]).label} → {r.get_status_display()})"
                    for r in changed[:LISTED_NUMBERS]
                )
            }
        self.message_user(request, text, messages.SUCCESS)
        if unlisted:
            self.message_user(
                request,
                gettext("NXCloud does not list %(numbers)s (not created there yet, or closed).")
                % {"numbers": _numbers(unlisted)},
                messages.WARNING,
            )

    def _report(
        self, request: HttpRequest, outcomes: Outcomes, *, done: str, unknown: str, method: str = ""
    ) -> None:
        """One message per outcome group, not one per row."""
        if outcomes.done:
            self.message_user(
                request,
                done % {"count": len(outcomes.done), "numbers": _numbers(outcomes.done), "method": method},
                messages.SUCCESS,
            )
        for reason, rows in outcomes.refused.items():
            registrations = [registration for registration, _until in rows]
            self.message_user(
                request,
                ngettext(
                    "Refused for %(count)d number (%(numbers)s): %(why)s",
                    "Refused for %(count)d numbers (%(numbers)s): %(why)s",
                    len(rows),
                )
                % {
                    "count": len(rows),
                    "numbers": _numbers(registrations),
                    "why": refusal_text(reason, _latest(until for _r, until in rows)),
                },
                messages.WARNING,
            )
        for (code, message), registrations in outcomes.rejected.items():
            self.message_user(
                request,
                ngettext(
                    "NXCloud said no for %(count)d number (%(numbers)s): result %(code)s, %(message)s",
                    "NXCloud said no for %(count)d numbers (%(numbers)s): result %(code)s, %(message)s",
                    len(registrations),
                )
                % {
                    "count": len(registrations),
                    "numbers": _numbers(registrations),
                    "code": code if code is not None else EMPTY,
                    "message": message or gettext("no message"),
                },
                messages.ERROR,
            )
        if outcomes.unreachable:
            self.message_user(
                request,
                ngettext(
                    "NXCloud could not be reached for %(count)d number (%(numbers)s): nothing happened "
                    "there; try again.",
                    "NXCloud could not be reached for %(count)d numbers (%(numbers)s): nothing happened "
                    "there; try again.",
                    len(outcomes.unreachable),
                )
                % {"count": len(outcomes.unreachable), "numbers": _numbers(outcomes.unreachable)},
                messages.ERROR,
            )
        if outcomes.unknown:
            self.message_user(
                request,
                unknown % {"count": len(outcomes.unknown), "numbers": _numbers(outcomes.unknown)},
                messages.WARNING,
            )
        if outcomes.configuration:
            text = outcomes.configuration
            if outcomes.not_tried:
                text += " " + ngettext(
                    "Stopped: %(count)d more number was not tried.",
                    "Stopped: %(count)d more numbers were not tried.",
                    len(outcomes.not_tried),
                ) % {"count": len(outcomes.not_tried)}
            self.message_user(request, text, messages.ERROR)


def check_summary_text(check: services.CheckState) -> str:
    """``2 of 5 tries used on the code sent at 10:20; it expires in 7 minutes (at 10:35).``"""
    if check.refusal is not None and check.refusal.reason in (
        RefusalReason.ALREADY_VERIFIED,
        RefusalReason.CLOSED,
        RefusalReason.NO_CODE,
    ):
        return check.refusal.message
    text = gettext("%(used)d of %(allowed)d tries used on the current code.") % {
        "used": check.attempts_used,
        "allowed": check.attempts_allowed,
    }
    if check.expires_at is not None:
        if check.expires_at > timezone.now():
            text += " " + gettext("It expires %(when)s.") % {"when": until_text(check.expires_at)}
        else:
            text += " " + gettext("It has expired.")
    if check.refusal is not None:
        text += " " + check.refusal.message
    return text


def refusal_notices(state: services.RegistrationState) -> list[str]:
    """What stops staff from checking or sending right now, and until when, in words."""
    notices: list[str] = []
    quiet = (RefusalReason.ALREADY_VERIFIED,)
    check, send = state.check.refusal, state.send.refusal
    if check is not None and check.reason not in quiet:
        notices.append(gettext("Code checks are refused: %(why)s") % {"why": check.message})
    if send is not None and send.reason not in quiet:
        if check is not None and send.reason == check.reason:
            notices[-1:] = [gettext("Code checks and sends are refused: %(why)s") % {"why": send.message}]
        else:
            notices.append(gettext("Code sends are refused: %(why)s") % {"why": send.message})
    return notices


def check_outcome_message(
    registration: PhoneRegistration, attempt: VerificationAttempt, *, ip: str | None
) -> tuple[int, str]:
    """The message level and text that say exactly what happened to a code staff entered."""
    phone = registration.formatted_phone
    if attempt.outcome == Attempt.ACCEPTED:
        return messages.SUCCESS, gettext("Code accepted: %(phone)s is verified.") % {"phone": phone}
    if attempt.outcome == Attempt.REFUSED:
        why = refusal_text(attempt.refusal_reason, attempt.retry_after)
        return messages.ERROR, gettext("The code was not checked. %(why)s") % {"why": why}
    if attempt.outcome == Attempt.REJECTED:
        check = services.get_state(registration, ip=ip).check
        if check.attempts_left > 0:
            text = ngettext(
                "NXCloud did not accept the code. %(left)d try left on this code "
                "(%(used)d of %(allowed)d used).",
                "NXCloud did not accept the code. %(left)d tries left on this code "
                "(%(used)d of %(allowed)d used).",
                check.attempts_left,
            ) % {"left": check.attempts_left, "used": check.attempts_used, "allowed": check.attempts_allowed}
            return messages.WARNING, text
        text = gettext("NXCloud did not accept the code, and that was the last try on it.")
        if check.refusal is not None:
            text += " " + check.refusal.message
        return messages.ERROR, text
    if attempt.outcome == Attempt.UNKNOWN:
        return messages.WARNING, gettext(
            "NXCloud's answer did not arrive, so it is unknown whether the code was accepted. It was "
            "not resent. Refresh the status from NXCloud, or check the code again in a moment."
        )
    if is_configuration_failure(attempt):
        return messages.ERROR, configuration_message(attempt)
    return messages.ERROR, gettext(
        "NXCloud could not be reached: the code was not checked and the try does not count. Try again."
    )


# -- the audit trail ---------------------------------------------------------------------------------


#: Up to this many rows the audit lists count exactly; past it an unfiltered list is estimated.
EXACT_COUNT_UP_TO = 10_000


def _significant(value: int, digits: int = 3) -> int:
    """``500568`` → ``501000``: an estimate shown with the precision it has."""
    return round(value, digits - len(str(value))) if len(str(value)) > digits else value


#: One statement, so a page makes the same queries at any size: the exact count when the table
#: holds at most ``exact_up_to`` rows (no more are read); past that the planner's estimate (rows
#: per page at the last ANALYZE times the pages now, as the planner reckons); and only for a big
#: table never analysed, the full count (PostgreSQL runs that sub-select only when reached).
COUNT_OR_ESTIMATE_SQL = """
SELECT
    CASE
        WHEN bounded.n <= %s THEN bounded.n
        WHEN planner.estimate IS NOT NULL THEN GREATEST(planner.estimate, bounded.n)
        ELSE (SELECT COUNT(*) FROM {table})
    END,
    bounded.n > %s AND planner.estimate IS NOT NULL
FROM (SELECT COUNT(*) AS n FROM (SELECT 1 FROM {table} LIMIT %s) AS first_rows) AS bounded
LEFT JOIN (
    SELECT (
        c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::integer)
    )::bigint AS estimate
    FROM pg_class c
    WHERE c.oid = to_regclass(%s) AND c.relpages > 0 AND c.reltuples > 0
) AS planner ON TRUE
"""


class EstimatedCountPaginator(PaginatorBase):
    """Counts exactly up to ``exact_up_to`` rows; past that, an unfiltered PostgreSQL list is estimated.

    Counting 500,000 audit rows is a full scan (about 60 ms, twice per page with Django's
    defaults) that grows with the table. Here one query counts at most ``exact_up_to + 1`` rows
    and reads the planner's row estimate (``pg_class.reltuples`` scaled to the table's current
    size, as the planner itself does), so a page costs the same at 5,000 rows as at 5,000,000.
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
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return super().count
        table = connection.ops.quote_name(queryset.model._meta.db_table)
        with connection.cursor() as cursor:
            limit = self.exact_up_to
            cursor.execute(COUNT_OR_ESTIMATE_SQL.format(table=table), [limit, limit, limit + 1, table])
            count, estimated = cursor.fetchone()
        self.count_is_estimate = bool(estimated)
        return _significant(int(count)) if estimated else int(count)


class StaffUserListFilter(admin.RelatedFieldListFilter):
    """ "By user" listing the staff who have rows here, read from the user table.

    Django's ``RelatedOnlyFieldListFilter`` finds its users with ``DISTINCT user_id`` over the
    whole audit table (about 140 ms at 500,000 rows, on every page). This asks the user table for
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


class AuditAdmin(AuditAdminBase):
    """Append-only: anyone who may view sees everything; nobody adds, changes or deletes.

    Built to stay as fast at 500,000 rows as at 5,000: no ``date_hierarchy`` (it runs ``DISTINCT
    date_trunc`` over the table; the "created at" filter and ``created_at__gte``/``__lt`` links
    remain), one estimated count instead of two full ones, and a user filter that reads the
    user table. The default order (newest first) walks the ``created_at`` index.
    """

    list_select_related = ("registration", "user")
    list_per_page = 100
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    search_help_text = _("Phone number typed any way, the user's username, or an IP address.")
    search_fields = ("registration__phone_number", "user__username", "ip")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("phone number"), ordering="registration__phone_number")
    def registration_link(self, obj: CodeRequest | VerificationAttempt) -> SafeString:
        url = reverse("admin:nxwa_onboarding_phoneregistration_change", args=[quote(obj.registration_id)])
        return format_html('<a class="nxwa-nowrap" href="{}">{}</a>', url, obj.registration.formatted_phone)

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_badge(self, obj: CodeRequest | VerificationAttempt) -> SafeString:
        return badge("outcome-" + obj.outcome, obj.get_outcome_display())

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> Any:
        term = search_term.strip()
        if _is_ip_address(term):
            # One address: the ``ip`` index finds it; "contains" over three columns scans them all.
            return queryset.filter(ip=term), False
        digits = digits_only(term)
        if PHONE_LIKE.fullmatch(term) and len(digits) >= 3 and not _looks_like_ip(term):
            if term.startswith("00"):
                digits = digits[2:]
            return queryset.filter(registration__phone_number__contains=digits), False
        return super().get_search_results(request, queryset, search_term)


def _is_ip_address(term: str) -> bool:
    try:
        ipaddress.ip_address(term)
    except ValueError:
        return False
    return True


def _looks_like_ip(term: str) -> bool:
    return term.count(".") == 3 and " " not in term


AUDIT_FIELDS = (
    "registration",
    "outcome",
    "refusal_reason",
    "retry_after",
    "channel",
    "user",
    "ip",
    "result_code",
    "result_message",
    "http_status",
    "duration_ms",
    "created_at",
    "finished_at",
)


@admin.register(VerificationAttempt)
class VerificationAttemptAdmin(AuditAdmin):
    list_display = (
        "created_at",
        "registration_link",
        "outcome_badge",
        "ip",
        "user",
        "channel",
        "refusal_reason",
        "result_code",
    )
    list_filter = (
        "outcome",
        "channel",
        "refusal_reason",
        ("user", StaffUserListFilter),
        "created_at",
    )
    # Never the code (it is not stored) nor its digest (it tells staff nothing).
    fields = (*AUDIT_FIELDS[:1], "code_request", *AUDIT_FIELDS[1:])
    readonly_fields = fields


@admin.register(CodeRequest)
class CodeRequestAdmin(AuditAdmin):
    list_display = (
        "created_at",
        "registration_link",
        "outcome_badge",
        "method",
        "ip",
        "user",
        "channel",
        "refusal_reason",
        "result_code",
    )
    list_filter = (
        "outcome",
        "method",
        "channel",
        "refusal_reason",
        ("user", StaffUserListFilter),
        "created_at",
    )
    fields = (*AUDIT_FIELDS[:1], "method", *AUDIT_FIELDS[1:])
    readonly_fields = fields
