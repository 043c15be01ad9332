"""The app's URLconf for host projects: ``path("onboarding/", include("nxwa_onboarding.urls"))``
(namespace ``nxwa_onboarding``). The customer pages' routes live in ``pages.urls``; the JSON API
(``nxwa_onboarding.api.urls``) and the webhooks (``nxwa_onboarding.webhooks.urls``) are included
separately, so a host mounts only what it uses."""

from __future__ import annotations

from .pages.urls import app_name, urlpatterns

__all__ = ["app_name", "urlpatterns"]
