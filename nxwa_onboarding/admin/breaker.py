"""The breaker in the admin: a banner while calls to NXCloud are paused, and a button that
resumes them (``services.breaker``). The banner is on the registrations list (and on every
page a host adds ``breaker_banner`` to); resuming needs the change permission."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext

from ..models import PhoneRegistration
from ..services import breaker
from ..texts import until_text

if TYPE_CHECKING:
    BreakerAdminBase = admin.ModelAdmin[PhoneRegistration]
else:  # a mixin of the registration admin
    BreakerAdminBase = object


class BreakerMixin(BreakerAdminBase):
    """Adds ``resume-calls/`` (``<site>:nxwa_onboarding_resume_calls``, POST only)."""

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "resume-calls/",
                self.admin_site.admin_view(self.resume_calls_view),
                name=f"{self.opts.app_label}_resume_calls",
            ),
        ]
        return custom + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if request.method == "GET":
            self.breaker_banner(request)
        return super().changelist_view(request, extra_context)

    def breaker_banner(self, request: HttpRequest) -> None:
        """Tell staff that calls are paused, why, until when, and (with the permission) a button."""
        hold = breaker.paused()
        if hold is None:
            return
        text = gettext(
            "Calls to NXCloud are paused: %(failures)d calls failed on our configuration (check "
            "ACCESS_KEY, ACCESS_SECRET, SIGN_ALGORITHM and this server's clock). They resume by "
            "themselves %(when)s."
        ) % {"failures": hold.failures, "when": until_text(hold.until)}
        if self.has_change_permission(request):
            url = reverse(f"{self.admin_site.name}:{self.opts.app_label}_resume_calls")
            message = format_html(
                '{} <form method="post" action="{}" style="display:inline">'
                '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
                '<button type="submit">{}</button></form>',
                text,
                url,
                get_token(request),
                gettext("Resume calls now"),
            )
            self.message_user(request, message, messages.ERROR)
        else:
            self.message_user(request, text, messages.ERROR)

    def resume_calls_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        if breaker.lift(request.user):
            self.message_user(request, gettext("Calls to NXCloud resumed."), messages.SUCCESS)
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:{self.opts.app_label}_phoneregistration_changelist")
        )
