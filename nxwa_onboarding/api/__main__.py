"""``python -m nxwa_onboarding.api``: print the OpenAPI document (``make openapi`` writes it to
``nxwa_onboarding/api/openapi.json``; ``DJANGO_SETTINGS_MODULE`` must be set)."""

from __future__ import annotations

import json

import django

django.setup()

from .app import document  # noqa: E402  (the models need django.setup() first)
from .urls import api  # noqa: E402

print(json.dumps(document(api), indent=2, sort_keys=True, ensure_ascii=False))
