"""phoneList's answer read item by item (``ijson``), never parsed whole.

A list answer may be large and comes from outside: parsed at once, 15 MB of ``{}`` items are
five million dicts (hundreds of MB). Here the envelope is read as a stream: the result code and
message, and each item of ``data`` built on its own and kept only when it is a number object
(a map with a ``display_phone_number``), up to ``MAX_LIST_ITEMS``. What was left
out is counted (``Numbers.skipped``, ``Numbers.beyond``), so the caller logs it once per read.
"""

from __future__ import annotations

from typing import Any

import ijson  # type: ignore[import-untyped]

from ..conf import conf
from .exceptions import TransportError

#: Actions whose answer's ``data`` is a list of numbers, read this way.
STREAMED_ACTIONS = ("phoneList",)


class Numbers(list[dict[str, Any]]):
    """The number objects of a list answer, with what was left out."""

    skipped: int = 0  # items that are not number objects
    beyond: int = 0  # number objects past MAX_LIST_ITEMS, not read


def _is_number_object(item: Any) -> bool:
    phone = item.get("display_phone_number") if isinstance(item, dict) else None
    return isinstance(phone, str | int) and not isinstance(phone, bool)


def _data_kind(content: bytes) -> str:
    """The first event of the envelope's ``data`` ("" when there is none): a list starts with
    ``start_array``. Stops there, so the list itself is not walked here."""
    for prefix, event, _value in ijson.parse(content):
        if prefix == "data":
            return str(event)
    return ""


def parse_list_envelope(action: str, http_status: int, content: bytes) -> tuple[int, str, Any]:
    """As ``transport.parse_envelope``, with ``data`` a ``Numbers`` (or None when absent/null).

    Each pass is ijson's C backend walking the bytes; only the result code, the message and
    the kept items become Python objects."""

    def unusable(reason: str) -> TransportError:
        return TransportError(action, reason, sent=True, http_status=http_status)

    if http_status >= 500:
        raise unusable("NXCloud answered with a server error")
    limit = conf.MAX_LIST_ITEMS
    numbers = Numbers()
    try:
        first = next(ijson.parse(content), None)
        if first is None or first[:2] != ("", "start_map"):
            raise unusable("the answer is not a JSON object")
        code = next(ijson.items(content, "code", use_float=True), None)
        message = next(ijson.items(content, "message", use_float=True), None)
        kind = _data_kind(content)
        if kind == "start_array":
            for item in ijson.items(content, "data.item", use_float=True):
                if not _is_number_object(item):
                    numbers.skipped += 1
                elif len(numbers) < limit:
                    numbers.append(item)
                else:
                    numbers.beyond += 1
        else:
            for _event in ijson.parse(content):  # the rest must be JSON too
                pass
    except (ijson.JSONError, UnicodeDecodeError, RecursionError, ValueError):
        raise unusable("the answer is not JSON") from None
    if type(code) is not int:
        raise unusable("the answer has no integer result code")
    if http_status != 200 and code == 0:
        raise unusable("unexpected HTTP status")
    if kind not in ("start_array", "", "null") and code == 0:
        raise unusable("the answer's data is not a list")
    message_text = "" if message is None or isinstance(message, dict | list) else str(message)
    return code, message_text, numbers if kind == "start_array" else None
