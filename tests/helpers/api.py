"""The JSON API's test client: every response it sees is checked against the committed OpenAPI
document (its status documented for the operation, its media type, its body against the schema,
``Retry-After`` on a 429), so no test of the API can pass with a response the document denies."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from django.test import Client

import nxwa_onboarding

DOCUMENT_PATH = Path(nxwa_onboarding.__file__).resolve().parent / "api" / "openapi.json"
#: Where tests/urls.py mounts the API.
ROOT = "/onboarding/api"


@cache
def document() -> dict[str, Any]:
    return dict(json.loads(DOCUMENT_PATH.read_text()))


def operation(method: str, path: str, root: str = ROOT) -> dict[str, Any]:
    """The documented operation for ``method`` on ``path`` (under ``root``)."""
    assert path.startswith(root + "/"), path
    # The documented paths have no trailing slash; the slashed forms answer the same (urls.py).
    relative = path.removeprefix(root).split("?")[0].rstrip("/")
    for template, operations in document()["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, relative):
            assert method.lower() in operations, (method, template)
            return dict(operations[method.lower()])
    raise AssertionError(f"{path} is not in the OpenAPI document")


def validate(method: str, path: str, response: Any, root: str = ROOT) -> None:
    """The response is one the document allows for this operation."""
    responses = operation(method, path, root)["responses"]
    status = str(response.status_code)
    assert status in responses, (method, path, status, response.content[:500])
    content = responses[status].get("content")
    if content is None:
        assert not response.content, response.content[:500]
        return
    media_type = response.headers["Content-Type"].split(";")[0]
    assert media_type in content, (method, path, status, media_type)
    schema = {**content[media_type]["schema"], "components": document()["components"]}
    jsonschema_rs.Draft202012Validator(schema, validate_formats=True).validate(json.loads(response.content))
    if "headers" in responses[status]:
        for header in responses[status]["headers"]:
            assert header in response.headers, (header, status)
    if status == "429":
        assert int(response.headers["Retry-After"]) >= 1


class ApiClient:
    """Django's test client for the API, CSRF enforced as in production: ``post`` sends the
    ``csrftoken`` cookie's value in ``X-CSRFToken`` unless told not to; every response is
    validated (``validate``)."""

    def __init__(self, client: Client | None = None, *, root: str = ROOT, **defaults: Any) -> None:
        self.client = client or Client(enforce_csrf_checks=True, **defaults)
        self.root = root
        self.responses: list[Any] = []

    def get(self, path: str, **extra: Any) -> Any:
        return self._seen("GET", path, self.client.get(self.root + path, **extra))

    def post(
        self, path: str, body: Any = None, *, csrf: bool = True, raw: str | None = None, **extra: Any
    ) -> Any:
        headers = dict(extra.pop("headers", {}))
        if csrf:
            if "csrftoken" not in self.client.cookies:
                self.client.get(self.root + "/registrations/")
            if "csrftoken" in self.client.cookies:
                headers["X-CSRFToken"] = self.client.cookies["csrftoken"].value
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        response = self.client.post(
            self.root + path, data, content_type="application/json", headers=headers, **extra
        )
        return self._seen("POST", path, response)

    def delete(self, path: str, *, csrf: bool = True) -> Any:
        headers = {}
        if csrf:
            if "csrftoken" not in self.client.cookies:
                self.client.get(self.root + "/registrations/")
            if "csrftoken" in self.client.cookies:
                headers["X-CSRFToken"] = self.client.cookies["csrftoken"].value
        return self._seen("DELETE", path, self.client.delete(self.root + path, headers=headers))

    def _seen(self, method: str, path: str, response: Any) -> Any:
        validate(method, self.root + path, response, self.root)
        self.responses.append(response)
        return response


def problem(response: Any, status: int, name: str) -> dict[str, Any]:
    """The problem details of ``response``, checked to be of type ``name`` with ``status``."""
    assert response.status_code == status, (response.status_code, response.content[:800])
    assert response["Content-Type"].startswith("application/problem+json")
    body = dict(json.loads(response.content))
    assert body["type"] == f"urn:nxwa-onboarding:problem:{name}", body
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body
