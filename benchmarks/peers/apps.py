from __future__ import annotations

from django.apps import AppConfig


class PeersConfig(AppConfig):
    """The benchmark project's own app (allauth's phone storage, the hand-written view's row)."""

    name = "benchmarks.peers"
    label = "peers"
    default_auto_field = "django.db.models.BigAutoField"
