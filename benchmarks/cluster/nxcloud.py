"""NXCloud for ``benchmarks/cluster/run.py``: the app's sandbox, served by its own gunicorn, counting.

Every process of the cluster reaches it under a prefix naming itself (``/web1/``, ``/worker2/``:
its ``BASE_URL``); ``RecordCalls`` takes the prefix off, lets the sandbox answer, and writes one
row per call to ``CALLS_TABLE`` (who called, the action, the number, NXCloud's answer code), in
the database the sandbox keeps its own state in, so calls are counted across every process and
thread of this server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponseBase
from django.urls import include, path

CALLS_TABLE = "bench_nxcloud_call"
CREATE_CALLS_TABLE = (
    f"CREATE TABLE {CALLS_TABLE} (id bigserial PRIMARY KEY, caller text NOT NULL, action text NOT NULL,"
    " phone text NOT NULL, answer integer, at timestamptz NOT NULL DEFAULT clock_timestamp())"
)

urlpatterns = [path("", include("nxwa_onboarding.sandbox.urls"))]


def _field(raw: bytes, name: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value.get(name) if isinstance(value, dict) else None


class RecordCalls:
    """Middleware: ``/<caller>/api/...`` is answered as ``/api/...`` and recorded."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        caller, _, rest = request.path_info.lstrip("/").partition("/")
        request.path_info = "/" + rest
        response = self.get_response(request)
        if request.method == "POST" and rest.startswith("api/"):
            content = getattr(response, "content", b"")
            answer = _field(content, "code")
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {CALLS_TABLE} (caller, action, phone, answer) VALUES (%s, %s, %s, %s)",  # noqa: S608
                    [
                        caller,
                        request.headers.get("action", ""),
                        str(_field(request.body, "phone_number") or ""),
                        answer if isinstance(answer, int) else None,
                    ],
                )
        return response
