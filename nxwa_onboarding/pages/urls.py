"""The customer pages' routes; host projects include them as ``nxwa_onboarding.urls``."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "nxwa_onboarding"

urlpatterns = [
    path("", views.registration_list, name="list"),
    path("start/", views.start, name="start"),
    path("r/<uuid:public_id>/", views.detail, name="detail"),
    path("r/<uuid:public_id>/check/", views.check, name="check"),
    path("r/<uuid:public_id>/send/", views.send_code, name="send"),
    path("r/<uuid:public_id>/refresh/", views.refresh, name="refresh"),
    path("r/<uuid:public_id>/withdraw/", views.withdraw, name="withdraw"),
]
