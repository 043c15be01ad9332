"""The address a request came from, as the rules count it: one helper for every face."""

from __future__ import annotations

import ipaddress

from django.http import HttpRequest


def clean_ip(ip: str | None) -> str | None:
    """The address in its canonical form, or None when there is none or it does not parse."""
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The address as the server saw it. Behind a proxy, the host sets REMOTE_ADDR correctly."""
    return clean_ip(request.META.get("REMOTE_ADDR"))
