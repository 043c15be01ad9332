"""A token authentication class for the API, as a host would write one (docs/howto/token-auth.md),
and a second mount of the API that uses it (``tests/urls.py``: ``token-api/``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from ninja.security import HttpBearer

from nxwa_onboarding.api.app import build_api
from nxwa_onboarding.api.urls import api_urlpatterns

#: token -> username; a real host keeps hashed tokens in a model.
TOKENS = {"token-of-the-customer": "customer"}


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        username = TOKENS.get(token)
        return get_user_model().objects.filter(username=username).first() if username else None


urlpatterns = api_urlpatterns(build_api(TokenAuth(), namespace="token_api"))
