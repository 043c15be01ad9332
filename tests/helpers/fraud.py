"""Numbers for the fraud guard's tests: many valid mobiles under one prefix, or spread out."""

from __future__ import annotations

#: A GB mobile range (447400 1xxxxx): the attacked prefix in the tests (7 digits: 4474001).
GB_PREFIX = "4474001"


def gb_number(index: int) -> str:
    """The ``index``-th GB mobile under GB_PREFIX (valid for 0-99999)."""
    return f"{GB_PREFIX}{index:05d}"


def cn_number(prefix: int, index: int) -> str:
    """A CN mobile under the 7-digit prefix ``86138{prefix:02d}`` (prefix 0-99, index 0-999999)."""
    return f"86138{prefix:02d}{index:06d}"
