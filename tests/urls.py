from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("onboarding/api/", include("nxwa_onboarding.api.urls")),
    path("token-api/", include("tests.helpers.api_tokens")),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("onboarding/", include("nxwa_onboarding.urls")),
    path("sandbox/nxcloud/", include("nxwa_onboarding.sandbox.urls")),
    path("nxwa/webhooks/", include("nxwa_onboarding.webhooks.urls")),
    path("nxwa/ops/", include("nxwa_onboarding.ops.urls")),
]
