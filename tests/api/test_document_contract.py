"""What generated clients and linters rely on in the OpenAPI document: every problem ``type`` is
listed, the number and the code carry examples, lengths and patterns that the server agrees
with, a created registration links to its operations, the slashed paths of older clients still
answer, the document is built once, and the demo serves it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.test import Client

import nxwa_onboarding
from nxwa_onboarding.api import problems
from nxwa_onboarding.api.app import OnboardingAPI, build_api, document
from nxwa_onboarding.api.schemas import CODE_INPUT_PATTERN, PHONE_INPUT_PATTERN
from nxwa_onboarding.api.urls import api
from nxwa_onboarding.codes import normalize_code
from nxwa_onboarding.phone import normalize_phone
from nxwa_onboarding.testing import FakeNXCloud
from tests.helpers.api import DOCUMENT_PATH, ROOT, ApiClient
from tests.helpers.demo import run_in_demo

API_DIR = Path(nxwa_onboarding.__file__).resolve().parent / "api"


def schemas() -> dict[str, Any]:
    return dict(document(api)["components"]["schemas"])


def problem_names_in_the_code() -> set[str]:
    """The literal name of every ``Problem(status, "name", ...)`` in the API's modules."""
    names = set()
    for source in API_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", None)) == "Problem"
                and len(node.args) >= 2
            ):
                name = node.args[1]
                if isinstance(name, ast.Constant):
                    names.add(str(name.value))
                elif isinstance(name, ast.JoinedStr):  # f"refused:{reason}", f"failure:{kind}"
                    prefix = name.values[0]
                    assert isinstance(prefix, ast.Constant), ast.dump(name)
                    assert prefix.value in ("refused:", "failure:"), ast.dump(name)
    return names


def test_every_problem_the_api_makes_is_in_the_documents_enum() -> None:
    in_code = problem_names_in_the_code()
    assert {"code-rejected", "code-not-sent", "csrf", "login-failed"} <= in_code  # the scan works
    assert in_code <= set(problems.NAMES), in_code - set(problems.NAMES)
    listed = schemas()["ProblemOut"]["properties"]["type"]["enum"]
    assert listed == problems.types()
    assert problems.type_uri("refused:cooldown") in listed
    assert problems.type_uri("failure:maybe_sent") in listed
    assert problems.type_uri("unavailable") in listed
    refusal = schemas()["RefusalOut"]["properties"]["type"]["enum"]
    assert set(refusal) < set(listed)
    assert all(kind.startswith(problems.type_uri("refused")) for kind in refusal)


def test_the_number_and_the_code_carry_examples_lengths_and_patterns_the_server_agrees_with() -> None:
    start = schemas()["StartIn"]
    phone = start["properties"]["phone_number"]
    assert phone["pattern"] == PHONE_INPUT_PATTERN
    assert (phone["minLength"], phone["maxLength"]) == (6, 40)
    numbers = [example["phone_number"] for example in start["examples"]] + phone["examples"]
    assert len(set(numbers)) >= 6
    for number in numbers:
        assert re.fullmatch(PHONE_INPUT_PATTERN, number), number
        assert normalize_phone(number)  # the server takes every example as it is
    code = schemas()["CodeIn"]["properties"]["code"]
    assert code["pattern"] == CODE_INPUT_PATTERN
    assert (code["minLength"], code["maxLength"]) == (4, 32)
    for example in [*code["examples"], "123 456", "123-456", "1234", "12345678"]:
        assert re.fullmatch(CODE_INPUT_PATTERN, example), example
        assert normalize_code(example) is not None
    for outside in ("123", "123456789", "12a456", "+86 138 0013 8000 ext 1"):
        assert not re.fullmatch(CODE_INPUT_PATTERN, outside)
        assert normalize_code(outside) is None
    summary = schemas()["RegistrationSummaryOut"]["properties"]
    assert summary["phone_e164"]["examples"] == ["+8613800138000"]
    assert re.fullmatch(summary["phone_e164"]["pattern"], "+8613800138000")
    assert "phone_e164" in schemas()["RegistrationSummaryOut"]["required"]


def test_a_created_registration_links_to_its_operations() -> None:
    paths = document(api)["paths"]
    ids = {operation["operationId"] for operations in paths.values() for operation in operations.values()}
    for path, method, status in (
        ("/registrations", "post", "201"),
        ("/registrations/{public_id}", "get", "200"),
    ):
        links = paths[path][method]["responses"][status]["links"]
        assert set(links) == {"get_registration", "check_code", "send_code", "refresh"}
        for link in links.values():
            assert link["operationId"] in ids
            assert link["parameters"] == {"public_id": "$response.body#/id"}


def test_no_path_ends_with_a_slash_and_the_slashed_paths_still_answer(
    db: None, customer: Any, nxcloud: FakeNXCloud
) -> None:
    assert not [path for path in document(api)["paths"] if path.endswith("/")]
    client = ApiClient()
    client.client.force_login(customer)
    created = client.post("/registrations/", {"phone_number": "+86 138 0013 8000"})
    assert created.status_code == 201, created.content
    public_id = created.json()["id"]
    assert client.get("/registrations").json() == client.get("/registrations/").json()
    assert (
        client.get(f"/registrations/{public_id}").json() == client.get(f"/registrations/{public_id}/").json()
    )
    assert client.post(f"/registrations/{public_id}/refresh/").status_code == 200
    assert client.post(f"/registrations/{public_id}/refresh").status_code == 200


def test_the_document_is_built_once_per_mount() -> None:
    fresh = build_api(namespace="nxwa_onboarding_api")  # same namespace: reverse finds its root
    with mock.patch.object(OnboardingAPI, "build_document", wraps=fresh.build_document) as build:
        first = fresh.get_openapi_schema()
        assert fresh.get_openapi_schema() is first
        other = fresh.get_openapi_schema(path_prefix="/elsewhere/")
        assert fresh.get_openapi_schema(path_prefix="/elsewhere/") is other
    assert build.call_count == 2
    assert other["servers"][0]["url"] == "/elsewhere"
    assert other["paths"] == first["paths"]
    # Served twice, built no more.
    with mock.patch.object(OnboardingAPI, "build_document") as build:
        assert Client().get(ROOT + "/openapi.json").status_code == 200
        assert Client().get(ROOT + "/openapi.json").status_code == 200
    build.assert_not_called()


def test_the_demo_serves_the_committed_document_at_the_readmes_address() -> None:
    script = """
import json
import django
django.setup()
from django.test import Client
response = Client(HTTP_HOST="127.0.0.1").get("/onboarding/api/openapi.json")
print(response.status_code)
print(json.dumps(response.json(), sort_keys=True))
"""
    done = run_in_demo(script, DATABASE_URL="sqlite:///:memory:")
    assert done.returncode == 0, done.stderr
    status, served = done.stdout.split("\n", 1)
    assert status == "200"
    assert json.loads(served) == json.loads(DOCUMENT_PATH.read_text())


@pytest.mark.parametrize("path", ["/registrations", "/session"])
def test_the_served_documents_paths_are_under_its_server(path: str) -> None:
    served = Client().get(ROOT + "/openapi.json").json()
    assert path in served["paths"]
    assert served["servers"][0]["url"] + path == ROOT + path
