from __future__ import annotations

from django.urls import path

from . import views

app_name = "nxwa_onboarding"

urlpatterns = [
    path("", views.registration_list, name="list"),
    path("start/", views.start, name="start"),
    path("r/<uuid:public_id>/", views.detail, name="detail"),
]
