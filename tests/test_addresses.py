"""The address a request came from, as the rules count it (``nxwa_onboarding.addresses``)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nxwa_onboarding.addresses import block_of, clean_ip


@pytest.mark.parametrize(
    ("given_ip", "clean", "block"),
    [
        ("203.0.113.7", "203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7", "203.0.113.7"),
        ("2001:DB8::1", "2001:db8::1", "2001:db8::/64"),
        ("2001:db8:0:0:ffff::2", "2001:db8::ffff:0:0:2", "2001:db8::/64"),
        # Python 3.13 writes an IPv4-mapped address with its dotted tail: as this Python does.
        ("::ffff:198.51.100.2", str(ipaddress.ip_address("::ffff:198.51.100.2")), "198.51.100.2"),
        ("not an address", None, ""),
        ("", None, ""),
        (None, None, ""),
    ],
)
def test_addresses_are_canonical_and_blocked(given_ip: str | None, clean: str | None, block: str) -> None:
    assert clean_ip(given_ip) == clean
    assert block_of(given_ip) == block


@pytest.mark.parametrize("hostile", [["203.0.113.7"], {"ip": 1}, 7, b"203.0.113.7"])
def test_what_is_not_text_is_no_address(hostile: Any) -> None:
    """Whatever a header parser hands over: never an error (the cached parse needs text)."""
    assert clean_ip(hostile) is None
    assert block_of(hostile) == ""


@given(st.ip_addresses() | st.text(max_size=40))
def test_the_cached_parse_is_the_plain_one(value: Any) -> None:
    """Parsed once per address (an LRU cache): the same answer as parsing it every time."""
    text = str(value)
    for _ in range(2):
        try:
            plain: str | None = str(ipaddress.ip_address(text.strip()))
        except ValueError:
            plain = None
        assert clean_ip(text) == (plain if text else None)
