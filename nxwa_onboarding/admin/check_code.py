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

from .. import services, tasks
from ..addresses import client_ip
from ..models import Channel, PhoneRegistration, RefusalReason
from ..reports import safe_reports
from .forms import CheckCodeForm
from .presenters import admin_url, check_outcome_message, check_summary_text, failed_text, is_failed

if TYPE_CHECKING:
    RegistrationAdminBase = admin.ModelAdmin[PhoneRegistration]
else:  # a mixin of the registration admin
    RegistrationAdminBase = object

#: Refusals no typed code can get past: a (new) code has to be sent first.
NEEDS_A_CODE = (RefusalReason.NO_CODE, RefusalReason.EXPIRED, RefusalReason.TOO_MANY_ATTEMPTS)
#: Refusals that end the page's use: nothing is left to check.
NOTHING_TO_CHECK = (RefusalReason.ALREADY_VERIFIED, RefusalReason.CLOSED)


class CheckCodeMixin(RegistrationAdminBase):
    """Adds ``<pk>/check-code/`` (``<site>:nxwa_onboarding_phoneregistration_check_code``)."""

    def page_actions(self, request: HttpRequest, obj: PhoneRegistration) -> list[tuple[str, str]]:
        """The page's buttons, offered where a code must be sent first: ``PageActionsMixin``
        (before this mixin) gives them; an admin without it offers none."""
        return []

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
                # An accepted code starts the client's setup, as on every door (once, on commit).
                started = attempt.outcome == attempt.Outcome.ACCEPTED and tasks.start_setup(obj)
                level, text = check_outcome_message(
                    obj, attempt, ip=client_ip(request), setup_started=started
                )
                self.message_user(request, text, level)
                # Accepted (or nothing left to check): back to the registration. Otherwise stay
                # on the code form, the message above it (a redirect, so a reload re-posts nothing).
                refusal = services.get_state(obj, ip=client_ip(request), channel=Channel.ADMIN).check.refusal
                if refusal is not None and refusal.reason in NOTHING_TO_CHECK:
                    return HttpResponseRedirect(change_url)
                return HttpResponseRedirect(request.get_full_path())
        else:
            form = CheckCodeForm()
        state = services.get_state(obj, ip=client_ip(request), channel=Channel.ADMIN)
        refusal = state.check.refusal
        notices = [refusal.message] if refusal is not None else []
        if is_failed(obj):
            notices = [failed_text(obj)]
        blocked = refusal is not None and refusal.reason in (*NEEDS_A_CODE, *NOTHING_TO_CHECK)
        # Where a code must be sent first, the page offers sending (if this user may) instead of a form.
        offers = (
            self.page_actions(request, obj) if refusal is not None and refusal.reason in NEEDS_A_CODE else []
        )
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
            "check_summary": check_summary_text(state.check, with_refusal=False),
            "refusals": notices,
            "show_form": not blocked,
            "offers": offers,
            "app_label": self.opts.app_label,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/nxwa_onboarding/phoneregistration/check_code.html", context)
