"""The enter-code page: staff type the code a merchant reads out; ``verify_phone`` guards it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_post_parameters

from .. import services
from ..addresses import client_ip
from ..models import Channel, PhoneRegistration
from ..reports import safe_reports
from .forms import CheckCodeForm
from .presenters import admin_url, check_outcome_message, check_summary_text

if TYPE_CHECKING:
    RegistrationAdminBase = admin.ModelAdmin[PhoneRegistration]
else:  # a mixin of the registration admin
    RegistrationAdminBase = object


class CheckCodeMixin(RegistrationAdminBase):
    """Adds ``<pk>/check-code/`` (``<site>:nxwa_onboarding_phoneregistration_check_code``)."""

    def has_verify_phone_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.verify_phone")

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

    @method_decorator(safe_reports)
    @method_decorator(sensitive_post_parameters("code"))
    def check_code_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Entering codes needs ``verify_phone`` and the right to see the registration (its
        number is on the page): ``verify_phone`` alone opens nothing."""
        if not self.has_verify_phone_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(gettext("That registration does not exist."))
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        change_url = admin_url(self.admin_site, obj, "change", obj.pk)
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
        state = services.get_state(obj, ip=client_ip(request), channel=Channel.ADMIN)
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
