"""The audit trail: every code request and verification attempt, read-only for everyone.

The two audit admins and the registration page's two inlines share one read-only rule (nobody
adds, changes or deletes a row, superusers included), and a registration with audit rows
cannot be deleted from the admin (``AuditTrailProtectionMixin``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ..models import CodeRequest, PhoneRegistration, VerificationAttempt
from ..phone import format_phone
from . import presenters
from .scaling import EstimatedCountPaginator, StaffUserListFilter
from .search import PhoneSearch, PhoneSearchMixin

if TYPE_CHECKING:
    AuditAdminBase = admin.ModelAdmin[Any]
    AuditInlineBase = admin.TabularInline[Any, PhoneRegistration]
    RegistrationAdminBase = admin.ModelAdmin[PhoneRegistration]
else:  # the admin classes are not subscriptable at run time; the mixin's base is object
    AuditAdminBase = admin.ModelAdmin
    AuditInlineBase = admin.TabularInline
    RegistrationAdminBase = object


class ReadOnlyMixin:
    """Append-only rows: whoever may view sees them; nobody adds, changes or deletes."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AuditTimesMixin:
    """The audit rows' times to the second, with the time zone (``presenters.audit_time``)."""

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj: CodeRequest | VerificationAttempt) -> SafeString | str:
        return presenters.audit_time(obj.created_at)

    @admin.display(description=_("finished at"), ordering="finished_at")
    def finished(self, obj: CodeRequest | VerificationAttempt) -> SafeString | str:
        return presenters.audit_time(obj.finished_at)

    @admin.display(description=_("may try again at"))
    def retry_at(self, obj: CodeRequest | VerificationAttempt) -> SafeString | str:
        return presenters.audit_time(obj.retry_after)


def timed(fields: tuple[str, ...]) -> tuple[str, ...]:
    """``fields`` with each time shown by ``AuditTimesMixin`` instead of Django's minutes."""
    shown = {"created_at": "created", "finished_at": "finished", "retry_after": "retry_at"}
    return tuple(shown.get(name, name) for name in fields)


def outcome_with_reason(obj: CodeRequest | VerificationAttempt) -> SafeString:
    """The outcome's badge, and under it a refusal's reason or NXCloud's result code when it was
    not 0 (one column instead of three; the message is on the row's page)."""
    shown = presenters.outcome_badge(obj)
    if obj.refusal_reason:
        why = str(obj.get_refusal_reason_display())
    elif obj.result_code:
        why = gettext("NXCloud %(code)s") % {"code": obj.result_code}
    else:
        return shown
    return format_html('{}<br><span class="nxwa-quiet">{}</span>', shown, why)


# -- on the registration's page ------------------------------------------------------------------


class AuditInline(AuditTimesMixin, ReadOnlyMixin, AuditInlineBase):
    """A registration's code requests or attempts, newest first: read-only, like the audit admins."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False  # the time links to the row's page instead (``created``)
    ordering = ("-created_at", "-id")
    classes = ("nxwa-audit-inline",)

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj: CodeRequest | VerificationAttempt) -> SafeString | str:
        """The time, linked to the row's own page, where the rest of the call is (retry time,
        duration, HTTP status): the registration's page stays within the window."""
        url = presenters.admin_url(self.admin_site, type(obj), "change", obj.pk)
        return format_html('<a href="{}">{}</a>', url, presenters.audit_time(obj.created_at))

    @admin.display(description=_("outcome"))
    def outcome_badge(self, obj: Any) -> SafeString:
        return outcome_with_reason(obj)

    @admin.display(description=_("NXCloud's answer"))
    def answer(self, obj: CodeRequest | VerificationAttempt) -> str:
        if obj.result_code is None:
            return presenters.EMPTY
        return f"{obj.result_code} {obj.result_message}".strip()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("user", "registration")


#: What an inline row shows of a call after its time (and a send's method) and outcome (with
#: its refusal reason); the retry time, duration and HTTP status are on the row's own page.
CALL_FIELDS = ("channel", "user", "ip", "answer")


class CodeRequestInline(AuditInline):
    model = CodeRequest
    verbose_name = _("code sent")
    verbose_name_plural = _("codes sent (newest first)")
    fields = timed(("created_at", "method", "outcome_badge", *CALL_FIELDS))
    readonly_fields = fields


class VerificationAttemptInline(AuditInline):
    model = VerificationAttempt
    verbose_name = _("verification attempt")
    verbose_name_plural = _("verification attempts (newest first)")
    # The code is never stored; its digest is not shown either: it tells staff nothing.
    fields = timed(("created_at", "outcome_badge", *CALL_FIELDS))
    readonly_fields = fields


class AuditTrailProtectionMixin(RegistrationAdminBase):
    """Never silently destroy the audit trail: a registration with rows is protected, and says so."""

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
            .values_list("phone_number", "sends", "tries")
        )
        for phone_number, sends, tries in audited:
            protected.append(
                gettext("%(phone)s: its audit trail of %(sends)s and %(tries)s")
                % {
                    "phone": format_phone(phone_number),
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


# -- the audit lists ---------------------------------------------------------------------------------


class AuditAdmin(AuditTimesMixin, ReadOnlyMixin, PhoneSearchMixin, AuditAdminBase):
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
    phone_search = PhoneSearch("registration__phone_number", ip_field="ip")

    @admin.display(description=_("phone number"), ordering="registration__phone_number")
    def registration_link(self, obj: CodeRequest | VerificationAttempt) -> SafeString:
        url = presenters.admin_url(self.admin_site, PhoneRegistration, "change", obj.registration_id)
        return format_html('<a class="nxwa-nowrap" href="{}">{}</a>', url, obj.registration.formatted_phone)

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_badge(self, obj: CodeRequest | VerificationAttempt) -> SafeString:
        return outcome_with_reason(obj)


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


class VerificationAttemptAdmin(AuditAdmin):
    # The columns that tell one attempt from the next, within 1280 px beside the filters; the
    # user, refusal reason, NXCloud's result code and the rest are on the attempt's page (the
    # time links there) and in the filters.
    list_display = ("created", "registration_link", "outcome_badge", "channel", "ip")
    list_filter = (
        "outcome",
        "channel",
        "refusal_reason",
        ("user", StaffUserListFilter),
        "created_at",
    )
    # Never the code (it is not stored) nor its digest (it tells staff nothing).
    fields = timed((*AUDIT_FIELDS[:1], "code_request", *AUDIT_FIELDS[1:]))
    readonly_fields = fields


class CodeRequestAdmin(AuditAdmin):
    # As the attempts list: the rest is on the request's page, one click away.
    list_display = ("created", "registration_link", "outcome_badge", "method", "channel", "ip")
    list_filter = (
        "outcome",
        "method",
        "channel",
        "refusal_reason",
        ("user", StaffUserListFilter),
        "created_at",
    )
    fields = timed((*AUDIT_FIELDS[:1], "method", *AUDIT_FIELDS[1:]))
    readonly_fields = fields
