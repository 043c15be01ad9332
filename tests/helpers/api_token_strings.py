"""A token class as django-ninja's own documentation writes one: ``authenticate`` returns the
token, not a user. Mounted alone (``ROOT_URLCONF``) by the tests that show it is refused."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from nxwa_onboarding.api.app import build_api
from nxwa_onboarding.api.urls import api_urlpatterns

TOKEN = "supersecret"


class TokenStringAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return token if token == TOKEN else None


urlpatterns = api_urlpatterns(build_api(TokenStringAuth(), namespace="token_string_api"))
