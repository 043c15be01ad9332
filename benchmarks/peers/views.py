"""The hand-written view: the fair floor for a submission. The code-entry page is one small
template; a submission writes one row before its one signed checkCode call (the app's
``NXCloudClient``, as ``benchmarks.verification.Floor`` uses) and completes it after."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone

from benchmarks.peers.models import HandAttempt
from nxwa_onboarding.nxcloud.client import NXCloudClient
from nxwa_onboarding.nxcloud.exceptions import OnboardingError

_client: NXCloudClient | None = None


def client() -> NXCloudClient:
    global _client
    if _client is None:
        _client = NXCloudClient.from_settings()
    return _client


@login_required
def hand(request: HttpRequest, phone: str) -> HttpResponse:
    error = ""
    if request.method == "POST":
        code = "".join(ch for ch in request.POST.get("code", "") if ch.isdigit())
        if len(code) != 6:
            error = "Enter the six digits."
        else:
            row = HandAttempt.objects.create(user=request.user, phone=phone)
            try:
                client().check_code(phone, code)
            except OnboardingError:
                row.outcome = "refused"
                error = "That code was not accepted."
            else:
                row.outcome = "accepted"
            row.finished_at = timezone.now()
            row.save(update_fields=["outcome", "finished_at"])
            if not error:
                return HttpResponseRedirect(request.path + "?done=1")
    return render(request, "peers/hand.html", {"phone": phone, "error": error}, status=400 if error else 200)
