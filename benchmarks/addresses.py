"""The benchmark project's ``CLIENT_IP``: the address a trusted proxy passed on, else the peer's.

Only for the benchmarks, where the load generator is that proxy: a site on the internet must not
trust ``X-Forwarded-For`` from anyone (docs/explanation/security.md: django-ipware).
"""

from __future__ import annotations

from django.http import HttpRequest


def forwarded_for(request: HttpRequest) -> str | None:
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return forwarded.split(",")[0].strip() or request.META.get("REMOTE_ADDR") or None
