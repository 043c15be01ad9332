"""The address a request came from, as the rules count it: one helper for every face.

``CLIENT_IP`` (a dotted path to a callable taking the request) says where the address is read;
the default reads ``REMOTE_ADDR``, which is right when nothing stands between the clients and
Django. Behind a reverse proxy, point it at a well-kept parser of the proxy's headers (the security
model, docs/explanation/security.md, shows django-ipware), never at a hand-split ``X-Forwarded-For``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable

from django.http import HttpRequest
from django.utils.module_loading import import_string

from .conf import conf

#: IPv6 addresses are counted by this prefix: one subscriber usually holds a whole /64.
IPV6_BLOCK = 64


def clean_ip(ip: str | None) -> str | None:
    """The address in its canonical form, or None when there is none or it does not parse."""
    if not ip or not isinstance(ip, str):
        return None
    return _canonical(ip)


# Parsed once per address, not at every one of a request's several rules (a pure function of a
# string; the cache is bounded, and an address an attacker varies only evicts older entries).
@functools.lru_cache(maxsize=4096)
def _canonical(ip: str) -> str | None:
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return None


def block_of(ip: str | None) -> str:
    """What the per-address limits count: an IPv4 address whole, an IPv6 address by its /64
    (an IPv4-mapped IPv6 address as the IPv4 address it is); "" for no address."""
    cleaned = clean_ip(ip)
    if cleaned is None:
        return ""
    return _block(cleaned)


@functools.lru_cache(maxsize=4096)
def _block(cleaned: str) -> str:
    address = ipaddress.ip_address(cleaned)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/{IPV6_BLOCK}", strict=False))
    return cleaned


def remote_addr(request: HttpRequest) -> str | None:
    """The default ``CLIENT_IP``: the address of the peer that connected to Django."""
    value = request.META.get("REMOTE_ADDR")
    return value if isinstance(value, str) else None


def client_ip(request: HttpRequest) -> str | None:
    """The request's address through ``CLIENT_IP``, canonical, or None when it has none."""
    reader: Callable[[HttpRequest], str | None] = import_string(conf.CLIENT_IP)
    return clean_ip(reader(request))
