"""Customer applications in the admin: the list (with the webhook URL to paste into NXCloud),
add (creates it at NXCloud), add one made elsewhere by its app key, an application's numbers as
phoneList shows them, a sync action; and the webhook deliveries, read-only like the audit rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..choices import CLOSED_STATES
from ..models import Application, PhoneRegistration, WebhookDelivery
from ..nxcloud.exceptions import NXCloudConfigurationError, OnboardingError
from ..phone import format_phone
from ..services.policy import validate_policy
from . import presenters
from .audit import ReadOnlyMixin
from .presenters import EMPTY, admin_url

if TYPE_CHECKING:
    ApplicationAdminBase = admin.ModelAdmin[Application]
    DeliveryAdminBase = admin.ModelAdmin[WebhookDelivery]
    ApplicationForm = forms.ModelForm[Application]
else:
    ApplicationAdminBase = DeliveryAdminBase = admin.ModelAdmin
    ApplicationForm = forms.ModelForm


class ApplicationPolicyForm(ApplicationForm):
    """The change form: the policy is checked key by key like the settings' system checks, and
    refused naming each wrong key (``services.policy.validate_policy``)."""

    class Meta:
        model = Application
        fields = ("name", "owner", "signs_callbacks", "policy")

    def clean_policy(self) -> Any:
        return validate_policy(self.cleaned_data.get("policy") or {})


class CreateApplicationForm(ApplicationForm):
    class Meta:
        model = Application
        fields = ("name", "owner")


class AddExistingApplicationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    app_key = forms.CharField(label=_("App key"), max_length=128)
    app_id = forms.CharField(label=_("NXCloud app id"), max_length=64, required=False)
    owner = forms.ModelChoiceField(
        label=_("Customer"),
        queryset=get_user_model()._default_manager.all(),
        required=False,
    )
    signs_callbacks = forms.BooleanField(label=_("NXCloud signs its callbacks"), required=False)


def mask(text: str, secret: str) -> str:
    """``text`` with ``secret`` cut to its first four characters and an ellipsis."""
    return text.replace(secret, secret[:4] + "…") if secret else text


def error_words(err: Exception) -> str:
    if isinstance(err, OnboardingError | NXCloudConfigurationError):
        return (
            str(presenters.configuration_message(err))
            if services.failure_of(err) == "configuration"
            else str(err)
        )
    return str(err)


class ApplicationAdmin(ApplicationAdminBase):
    list_display = ("name", "owner", "numbers", "last_synced_at", "webhook", "signs_callbacks", "outcome")
    list_filter = ("outcome", "signs_callbacks")
    search_fields = ("name", "app_id", "owner__username", "owner__email")
    raw_id_fields = ("owner",)
    actions = ("sync_from_nxcloud",)
    change_list_template = "admin/nxwa_onboarding/application/change_list.html"
    fields = (
        "name",
        "owner",
        "signs_callbacks",
        "policy",
        "webhook",
        "outcome_words",
        "app_id",
        "app_key_masked",
        "numbers_link",
        "created_by",
        "created_at",
        "last_synced_at",
        "message_events",
    )
    readonly_fields = tuple(f for f in fields if f not in ("name", "owner", "signs_callbacks", "policy"))
    form = ApplicationPolicyForm

    def get_queryset(self, request: HttpRequest) -> QuerySet[Application]:
        return (
            super()
            .get_queryset(request)
            .select_related("owner")
            .annotate(nxwa_numbers=Count("registrations", filter=~Q(registrations__status__in=CLOSED_STATES)))
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("numbers"), ordering="nxwa_numbers")
    def numbers(self, obj: Application) -> int:
        return int(getattr(obj, "nxwa_numbers", 0))

    @admin.display(description=_("webhook URL for NXCloud"))
    def webhook(self, obj: Application) -> SafeString | str:
        if not obj.is_usable:
            return EMPTY
        if not obj.webhook_url:
            return gettext("Set NXWA_ONBOARDING['WEBHOOK_BASE_URL'] and mount nxwa_onboarding.webhooks.urls.")
        # The token is the URL's only key for an unsigned application: shown once, at creation.
        return format_html('<code class="nxwa-nowrap">{}</code>', mask(obj.webhook_url, obj.webhook_token))

    @admin.display(description=_("app key"))
    def app_key_masked(self, obj: Application) -> str:
        return mask(obj.app_key, obj.app_key) if obj.app_key else EMPTY

    def show_once(self, request: HttpRequest, application: Application) -> None:
        """The webhook URL and the app key in full, once, to the staff member who just made the
        application (they may need to paste them into NXCloud); masked on every page after."""
        if not application.is_usable:
            return
        messages.info(
            request,
            format_html(
                "{} <code>{}</code> · {} <code>{}</code>",
                gettext("Shown once: the webhook URL for NXCloud"),
                application.webhook_url or "-",
                gettext("and the app key"),
                application.app_key or "-",
            ),
        )

    @admin.display(description=_("outcome"))
    def outcome_words(self, obj: Application) -> str:
        return services.outcome_text(obj)

    @admin.display(description=_("numbers at NXCloud"))
    def numbers_link(self, obj: Application) -> SafeString | str:
        if obj.pk is None or not obj.is_usable:
            return EMPTY
        return format_html(
            '<a href="{}">{}</a>',
            admin_url(self.admin_site, Application, "numbers", obj.pk),
            gettext("Numbers as phoneList shows them"),
        )

    # -- add: createApp ------------------------------------------------------------------------

    def get_form(
        self, request: HttpRequest, obj: Application | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = CreateApplicationForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Application | None = None) -> Any:
        return ("name", "owner") if obj is None else super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Application | None = None) -> Any:
        return () if obj is None else super().get_readonly_fields(request, obj)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """Add creates the application at NXCloud. Not through ``save_model``: the admin runs that
        inside a transaction, and createApp's pending row must be committed before the call."""
        if request.method != "POST":
            return super().add_view(request, form_url, extra_context)
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CreateApplicationForm(request.POST)
        if not form.is_valid():
            return super().add_view(request, form_url, extra_context)  # shows the form's errors
        try:
            created = services.create_application(
                form.cleaned_data["name"], owner=form.cleaned_data["owner"], user=request.user
            )
        except ValidationError as err:
            messages.error(request, " ".join(err.messages))
            return HttpResponseRedirect(request.get_full_path())
        self.log_addition(request, created, [{"added": {}}])
        level = messages.SUCCESS if created.is_usable else messages.ERROR
        messages.add_message(request, level, services.outcome_text(created))
        self.show_once(request, created)
        return HttpResponseRedirect(admin_url(self.admin_site, Application, "change", created.pk))

    # -- more pages ----------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("add-existing/", wrap(self.add_existing_view), name="{}_{}_add_existing".format(*info)),
            path("<path:object_id>/numbers/", wrap(self.numbers_view), name="{}_{}_numbers".format(*info)),
            *super().get_urls(),
        ]

    def add_existing_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AddExistingApplicationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                added = services.add_application(
                    data["app_key"],
                    name=data["name"],
                    app_id=data["app_id"],
                    owner=data["owner"],
                    user=request.user,
                    signs_callbacks=data["signs_callbacks"],
                )
            except ValidationError as err:
                form.add_error("app_key", err)
            except (OnboardingError, NXCloudConfigurationError) as err:
                form.add_error(None, error_words(err))
            else:
                messages.success(request, services.outcome_text(added))
                self.show_once(request, added)
                return HttpResponseRedirect(admin_url(self.admin_site, Application, "change", added.pk))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "title": gettext("Add an application made elsewhere, by its app key"),
        }
        return TemplateResponse(request, "admin/nxwa_onboarding/application/add_existing.html", context)

    def numbers_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        application = self.get_object(request, unquote(object_id))
        if application is None or not self.has_view_permission(request, application):
            raise Http404
        listed: list[Any] = []
        error = ""
        try:
            listed = services.application_numbers(application)
        except (OnboardingError, NXCloudConfigurationError) as err:
            error = error_words(err)
        rows = [
            {
                "number": item,
                "link": admin_url(self.admin_site, PhoneRegistration, "change", item.registration.pk)
                if item.registration
                else "",
            }
            for item in listed
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "application": application,
            "rows": rows,
            "error": error,
            "title": gettext("Numbers of %(name)s at NXCloud") % {"name": application.name},
        }
        return TemplateResponse(request, "admin/nxwa_onboarding/application/numbers.html", context)

    @admin.action(description=_("Sync numbers from NXCloud (this application only)"), permissions=["change"])
    def sync_from_nxcloud(self, request: HttpRequest, queryset: QuerySet[Application]) -> None:
        for application in queryset:
            if not application.is_usable:
                messages.warning(
                    request, gettext("%(name)s: no app key, nothing to sync.") % {"name": application.name}
                )
                continue
            try:
                summary = services.sync_statuses(application)
            except (OnboardingError, NXCloudConfigurationError) as err:
                messages.error(request, f"{application.name}: {error_words(err)}")
                continue
            messages.success(
                request,
                gettext(
                    "%(name)s: NXCloud lists %(listed)d number(s); %(matched)d match a "
                    "registration of this application; %(changed)d changed."
                )
                % {
                    "name": application.name,
                    "listed": summary.listed,
                    "matched": summary.matched,
                    "changed": len(summary.changed),
                },
            )


class WebhookDeliveryAdmin(ReadOnlyMixin, DeliveryAdminBase):
    # What tells one delivery from the next at 1280 px; its application, kind, payload and the
    # rest are on its page, one click away (the time links there).
    list_display = ("received", "event", "phone", "outcome", "detail")
    list_filter = ("outcome", "kind", "application")
    list_select_related = ("application",)
    search_fields = ("phone_number", "event")
    raw_id_fields = ("registration",)
    readonly_fields = (
        "application",
        "received_at",
        "kind",
        "event",
        "phone_number",
        "registration",
        "outcome",
        "detail",
        "signed",
        "body_bytes",
        "payload_truncated",
        "payload",
    )
    fields = readonly_fields

    @admin.display(description=_("received at"), ordering="received_at")
    def received(self, obj: WebhookDelivery) -> SafeString | str:
        """To the second with the zone, as the audit lists (read against NXCloud's logs)."""
        return presenters.audit_time(obj.received_at)

    @admin.display(description=_("phone number"), ordering="phone_number")
    def phone(self, obj: WebhookDelivery) -> SafeString | str:
        """Written as every other list writes a number (``+86 138 0013 8000``), not raw digits."""
        if not obj.phone_number:
            return EMPTY
        return format_html('<span class="nxwa-nowrap">{}</span>', format_phone(obj.phone_number))
