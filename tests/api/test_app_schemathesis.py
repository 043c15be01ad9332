"""The JSON API over real HTTP, against the sandbox mounted on pytest-django's live server.

A single-page client takes a number from nothing to registered using only the API (session and
CSRF as a browser's ``fetch`` would send them); then schemathesis generates requests from the
served OpenAPI document (bounded examples) and finds no 5xx and no response that breaks it.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from nxwa_onboarding.models import Channel, PhoneRegistration
from tests.helpers.api import ROOT, validate
from tests.helpers.live import Person, wrong_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

#: Examples per operation and generation mode: bounded, so the run takes seconds, not minutes.
EXAMPLES = 25
#: Scenarios of the stateful run (each a few steps long).
STATEFUL_EXAMPLES = 40


class SinglePageClient:
    """What a single-page app's ``fetch`` does: the session cookie, the CSRF token from the
    ``csrftoken`` cookie in ``X-CSRFToken``, JSON in and out. Every answer is checked against
    the committed OpenAPI document."""

    def __init__(self, person: Person) -> None:
        self.base = person.base + ROOT
        self.session = person.session

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        headers = {"Accept": "application/json"}
        if method != "GET":
            headers["X-CSRFToken"] = self.session.cookies["csrftoken"]
        response = self.session.request(method, self.base + path, json=body, headers=headers, timeout=30)
        validate(method, ROOT + path, response)
        return response


@pytest.mark.usefixtures("follower")
def test_a_single_page_client_takes_a_number_from_nothing_to_registered(
    sandbox_server: str, customer: Any, staff: Any
) -> None:
    person = Person(sandbox_server)
    person.login("/accounts/login/", "customer", then="/onboarding/")
    operator = Person(sandbox_server)
    operator.login("/admin/login/", "staff", then="/admin/")
    app = SinglePageClient(person)

    assert app.call("GET", "/registrations/").json() == []  # and the csrftoken cookie is set
    created = app.call("POST", "/registrations/", {"phone_number": "+86 138-0013-8000", "method": "sms"})
    assert created.status_code == 201, created.text
    registration = created.json()
    assert registration["last_code_request"]["outcome"] == "sent"
    path = f"/registrations/{registration['id']}/"

    code = operator.code_from_inbox("8613800138000")
    rejected = app.call("POST", path + "check/", {"code": wrong_code(code)})
    assert rejected.status_code == 422
    assert rejected.json()["attempts_left"] == 4
    accepted = app.call("POST", path + "check/", {"code": f"{code[:3]}-{code[3:]}"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] in ("verified", "client_created")

    seen: list[str] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        state = app.call("POST", path + "refresh/").json()
        seen.append(state["status"])
        if state["done"]:
            break
        time.sleep(0.25)
    assert seen[-1] == "registered", seen
    assert "client_created" in seen  # progress was visible on the way
    assert app.call("GET", path).json()["step"] == 4
    stored = PhoneRegistration.objects.get()
    assert stored.status == PhoneRegistration.Status.REGISTERED
    assert set(stored.attempts.values_list("channel", flat=True)) == {Channel.API}
    assert code not in created.text + rejected.text + accepted.text


@pytest.mark.schemathesis
def test_schemathesis_finds_no_server_error_and_no_response_outside_the_document(
    sandbox_server: str, customer: Any
) -> None:
    person = Person(sandbox_server)
    person.login("/accounts/login/", "customer", then="/onboarding/")
    person.session.get(sandbox_server + ROOT + "/registrations", timeout=30)  # the CSRF cookie
    headers = {"X-CSRFToken": person.session.cookies["csrftoken"]}
    schema = schemathesis.openapi.from_url(sandbox_server + ROOT + "/openapi.json")
    base_url = sandbox_server + ROOT  # the document's server: the API's root
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == 10  # the registrations' seven and the session's three (last)
    for operation in operations:
        # GET /session takes nothing at all: there is nothing to make invalid.
        negative = () if operation.label == "GET /session" else (GenerationMode.NEGATIVE,)
        for mode in (GenerationMode.POSITIVE, *negative):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                # The security schemes' cookies are the signed-in ones, not generated values.
                case.cookies = dict(person.session.cookies)
                case.call_and_validate(
                    base_url=base_url, session=person.session, headers=headers, checks=checks
                )

            run()


@pytest.mark.schemathesis
def test_schemathesis_stateful_run_creates_registrations_and_follows_their_links(
    sandbox_server: str, customer: Any
) -> None:
    """The document's examples, lengths and patterns are enough for schemathesis to make valid
    creates, and its links (from a create's 201 and a read's 200) take it to the created
    registration's operations; no 5xx and no response outside the document on the way."""
    person = Person(sandbox_server)
    person.login("/accounts/login/", "customer", then="/onboarding/")
    person.session.get(sandbox_server + ROOT + "/registrations", timeout=30)  # the CSRF cookie
    headers = {"X-CSRFToken": person.session.cookies["csrftoken"]}
    base_url = sandbox_server + ROOT
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    # The registrations only: signing out in the middle would leave the rest a series of 401s.
    schema = schemathesis.openapi.from_url(base_url + "/openapi.json").include(tag="registrations")
    seen: Counter[tuple[str, int]] = Counter()
    followed: Counter[str] = Counter()
    created: set[str] = set()

    class Run(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            # The document declares the session and CSRF cookies as the security schemes'
            # parameters, which schemathesis would fill in itself: the signed-in ones instead.
            case.cookies = dict(person.session.cookies)
            case.headers = {**(case.headers or {}), **headers}

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": base_url}

        def after_call(self, response: Any, case: Any) -> None:
            seen[(case.operation.label, response.status_code)] += 1
            if case.operation.label == "POST /registrations" and response.status_code == 201:
                created.add(response.json()["id"])
            public_id = (case.path_parameters or {}).get("public_id")
            if public_id is not None and str(public_id) in created:
                followed[case.operation.label] += 1

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=checks)

    Run.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=10,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert created, seen
    # Each operation on a registration was reached through a link from a created one.
    assert set(followed) >= {
        "GET /registrations/{public_id}",
        "POST /registrations/{public_id}/check",
        "POST /registrations/{public_id}/send",
        "POST /registrations/{public_id}/refresh",
    }, (followed, seen)
