"""The registration page's situation and its "Send code" and "Create client" buttons: the list's
actions, for one row, offered where the situation allows them (``services.situation``).

Each button opens the action's own confirmation page (a GET changes nothing); confirming runs
the very action the list runs, under the same permission (``send_code``, and the right to see
the registration), and comes back to the registration's page with the action's report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..choices import Channel, Method
from ..models import PhoneRegistration
from .actions import RegistrationActionsMixin
from .presenters import admin_url, situation_text

Action = Callable[[HttpRequest, QuerySet[PhoneRegistration]], Any]


class PageActionsMixin(RegistrationActionsMixin):
    """Adds ``<pk>/send-code/<method>/`` and ``<pk>/create-client/`` (``<site>:nxwa_onboarding_
    phoneregistration_send_code`` and ``…_create_client``) and says where each applies."""

    #: The customer page (``get_absolute_url``) opens for its owner only: staff would meet a 404.
    view_on_site = False

    @admin.display(description=_("situation"))
    def situation(self, obj: PhoneRegistration) -> str:
        """What the registration's situation is, and what the customer is told in it."""
        # Read once per page: the change page's other rows read the same (``_nxwa_admin_state``).
        state = getattr(obj, "_nxwa_admin_state", None)
        if state is None:
            state = services.get_state(obj, channel=Channel.ADMIN)
            setattr(obj, "_nxwa_admin_state", state)  # noqa: B010
        return situation_text(services.decide(obj, state))

    def get_urls(self) -> list[URLPattern]:
        info = (self.opts.app_label, self.opts.model_name)
        custom = [
            path(
                "<path:object_id>/send-code/<str:method>/",
                self.admin_site.admin_view(self.send_code_view),
                name="{}_{}_send_code".format(*info),
            ),
            path(
                "<path:object_id>/create-client/",
                self.admin_site.admin_view(self.create_client_view),
                name="{}_{}_create_client".format(*info),
            ),
        ]
        return custom + super().get_urls()

    def page_actions(self, request: HttpRequest, obj: PhoneRegistration) -> list[tuple[str, str]]:
        """The (label, URL) of each button that applies to ``obj`` for this user, in order."""
        if not self.has_send_code_permission(request):
            return []
        decision = services.decide(obj)
        if decision.awaits_code:
            return [
                (
                    gettext("Send code by SMS"),
                    admin_url(self.admin_site, obj, "send_code", obj.pk, Method.SMS),
                ),
                (
                    gettext("Send code by voice call"),
                    admin_url(self.admin_site, obj, "send_code", obj.pk, Method.VOICE),
                ),
            ]
        if decision.may_set_up:
            return [(gettext("Create client"), admin_url(self.admin_site, obj, "create_client", obj.pk))]
        return []

    def _run_on_one(self, request: HttpRequest, object_id: str, action: Action) -> HttpResponse:
        if not self.has_send_code_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(gettext("That registration does not exist."))
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        response = action(request, PhoneRegistration.objects.filter(pk=obj.pk))
        if response is not None:  # the confirmation page, until confirmed
            return response  # type: ignore[no-any-return]
        return HttpResponseRedirect(admin_url(self.admin_site, obj, "change", obj.pk))

    def send_code_view(self, request: HttpRequest, object_id: str, method: str) -> HttpResponse:
        if method not in Method.values:
            raise Http404(gettext("No such way of sending a code."))
        return self._run_on_one(request, object_id, lambda r, qs: self._send(r, qs, method))

    def create_client_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._run_on_one(request, object_id, self.create_whatsapp_client)
