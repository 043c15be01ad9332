"""Values that must never show in an error report: a verification code, the access secret, a sign.

A leaf module (standard library only). ``Hidden`` is a ``str`` in everything code does with it
(comparison, hashing, slicing, ``json.dumps``, ``encode``, f-strings, ``str()``), but its
``repr`` is a placeholder. Django's ``ExceptionReporter`` renders every frame local with
``pprint.pformat`` (the technical 500 page at DEBUG on, the error mails at DEBUG off), which uses
``repr`` for a ``str`` subclass, and so does ``traceback``'s ``capture_locals`` and the ``repr`` of
a container holding one (a dict, a list, a tuple of arguments): all of them show ``<hidden>``.
That holds whatever ``DEBUG`` says, where ``sensitive_variables`` only works while Django's
filter is active (DEBUG off). ``HiddenBytes`` is the same for the body bytes handed to requests.

Error trackers that serialise a ``str`` by its value rather than its ``repr`` are not fooled by
this: what keeps them out is that no frame an exception leaves through holds one (see
``transport``); ``Hidden`` is the second line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar, cast

T = TypeVar("T")

PLACEHOLDER = "<hidden>"


class Hidden(str):
    """A ``str`` whose ``repr`` (what error reports show) is ``<hidden>``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return PLACEHOLDER


class HiddenBytes(bytes):
    """``bytes`` whose ``repr`` is ``<hidden>`` (a request body on its way through requests)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return PLACEHOLDER


def hide(value: T) -> T:
    """``value`` as ``Hidden``/``HiddenBytes`` when it is a ``str``/``bytes``; anything else as is
    (a caller's non-text input keeps whatever meaning it had, e.g. "malformed")."""
    if isinstance(value, str) and not isinstance(value, Hidden):
        return cast(T, Hidden(value))
    if isinstance(value, bytes) and not isinstance(value, HiddenBytes):
        return cast(T, HiddenBytes(value))
    return value


def blank_out(text: str, hidden: Iterable[str]) -> str:
    """``text`` with every non-empty value of ``hidden`` replaced by ``***`` (a plain ``str``)."""
    for value in hidden:
        if value:
            text = text.replace(value, "***")
    return str(text)
