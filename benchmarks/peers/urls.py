"""The benchmark's pages (this app's, the trivial view) plus allauth under ``/allauth/`` and the
hand-written view under ``/peers/hand/``."""

from __future__ import annotations

from django.urls import include, path

from benchmarks.peers.views import hand
from benchmarks.urls import urlpatterns as bench_urlpatterns

urlpatterns = [
    path("peers/hand/<str:phone>/", hand, name="peers-hand"),
    path("allauth/", include("allauth.urls")),
    *bench_urlpatterns,
]
