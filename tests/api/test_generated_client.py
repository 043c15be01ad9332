"""Clients generated from the committed OpenAPI document, at test time into temporary folders
(nothing generated is committed), take a merchant from signing in to a registered number against
a live server with no request written by hand:

- Python: openapi-python-client's functions and models, with the generated client's own
  settings (its base URL, its "token" sent as the CSRF header, the cookies it was given);
- TypeScript: openapi-typescript's types for openapi-fetch, type-checked by tsc --strict and run
  under node (``merchant_flow.ts``); the npm packages, pinned, go to ``.cache/`` as the
  Makefile's axe-core does.

The code is read where a merchant would read it, from the sandbox's inbox (its table here)."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from nxwa_onboarding.models import Channel, PhoneRegistration
from nxwa_onboarding.sandbox.state import DatabaseState
from tests.helpers.api import DOCUMENT_PATH, ROOT
from tests.helpers.users import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.schemathesis]

ROOT_DIR = Path(__file__).resolve().parents[2]
PACKAGE = "nxwa_generated_client"
CONFIG = f"post_hooks: []\nproject_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\n"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated package, importable for this module's tests only."""
    folder = tmp_path_factory.mktemp("generated")
    config = folder / "config.yaml"
    config.write_text(CONFIG)
    generator = Path(sys.executable).parent / "openapi-python-client"
    done = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(DOCUMENT_PATH),
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The generator says so when it cannot make something of a part of the document.
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def part(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.mark.usefixtures("follower")
def test_a_generated_python_client_takes_a_number_from_sign_in_to_registered(
    generated: ModuleType, sandbox_server: str, customer: Any
) -> None:
    client_module, models = part("client"), part("models")
    ops = {
        **{name: part(f"api.session.{name}") for name in ("get_session", "create_session", "delete_session")},
        **{
            name: part(f"api.registrations.{name}")
            for name in (
                "create_registration",
                "get_registration",
                "check_code",
                "refresh",
                "list_registrations",
            )
        },
    }
    base = sandbox_server + ROOT

    opened: list[Any] = []

    def csrf_client(token: str, after: Any) -> Any:
        """The generated client with the session's CSRF token as its "token" (the document
        declares it as an API key in the X-CSRFToken header) and the cookies the server gave
        the client ``after`` (those it set carry its domain; the ones ``after`` started with
        do not)."""
        jar = after.get_httpx_client().cookies.jar
        made = client_module.AuthenticatedClient(
            base_url=base,
            token=token,
            prefix="",
            auth_header_name="X-CSRFToken",
            cookies={cookie.name: cookie.value for cookie in jar if cookie.domain},
            raise_on_unexpected_status=True,
        )
        opened.append(made)
        return made

    # Signing in: the CSRF token of a first GET, then the credentials.
    anonymous = client_module.Client(base_url=base, raise_on_unexpected_status=True)
    opened.append(anonymous)
    try:
        merchant_flow(models, anonymous, csrf_client, ops)
    finally:
        for made in opened:
            made.get_httpx_client().close()


def merchant_flow(models: Any, anonymous: Any, csrf_client: Any, ops: dict[str, Any]) -> None:
    get_session, create_session, delete_session = (
        ops["get_session"],
        ops["create_session"],
        ops["delete_session"],
    )
    create, get_one, check = ops["create_registration"], ops["get_registration"], ops["check_code"]
    refresh, listing = ops["refresh"], ops["list_registrations"]
    first = get_session.sync(client=anonymous)
    assert isinstance(first, models.SessionOut)
    assert not first.authenticated
    signing_in = csrf_client(first.csrf_token, anonymous)
    refused = create_session.sync_detailed(
        client=signing_in, body=models.LoginIn(username="customer", password="not-the-password")
    )
    assert refused.status_code == 400
    assert refused.parsed.type_ == models.ProblemOutType("urn:nxwa-onboarding:problem:login-failed")
    signed_in = create_session.sync(
        client=signing_in, body=models.LoginIn(username="customer", password=PASSWORD)
    )
    assert isinstance(signed_in, models.SessionOut)
    assert signed_in.authenticated
    assert signed_in.username == "customer"
    assert signed_in.csrf_token != first.csrf_token  # sign-in rotates it
    api = csrf_client(signed_in.csrf_token, signing_in)

    # Adding the number sends its first code.
    created = create.sync(client=api, body=models.StartIn(phone_number="+86 138 0013 8000"))
    assert isinstance(created, models.RegistrationOut), created
    assert created.phone_e164 == "+8613800138000"
    assert created.phone_number == "8613800138000"
    assert created.last_code_request.outcome == models.SendOutcome.SENT
    assert created.state.can_check
    code = DatabaseState().latest_code("8613800138000")
    assert code is not None

    # A wrong code is a problem with its type and the tries left; the right one is accepted.
    wrong = check.sync_detailed(
        created.id, client=api, body=models.CodeIn(code="000000" if code != "000000" else "111111")
    )
    assert wrong.status_code == 422
    assert wrong.parsed.type_ == models.ProblemOutType("urn:nxwa-onboarding:problem:code-rejected")
    assert wrong.parsed.attempts_left == 4
    accepted = check.sync(created.id, client=api, body=models.CodeIn(code=f"{code[:3]} {code[3:]}"))
    assert isinstance(accepted, models.RegistrationOut), accepted
    assert accepted.status in (models.RegistrationStatus.VERIFIED, models.RegistrationStatus.CLIENT_CREATED)

    # Polling until done, as the document says.
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = refresh.sync(created.id, client=api)
        assert isinstance(now, models.RegistrationOut), now
        seen.append(now.status)
        if now.done:
            break
        time.sleep(0.25)
    assert seen[-1] == models.RegistrationStatus.REGISTERED, seen
    read = get_one.sync(created.id, client=api)
    assert isinstance(read, models.RegistrationOut)
    assert read.step == 4
    assert [summary.id for summary in listing.sync(client=api)] == [created.id]
    stored = PhoneRegistration.objects.get()
    assert stored.status == PhoneRegistration.Status.REGISTERED
    assert set(stored.attempts.values_list("channel", flat=True)) == {Channel.API}

    # Signing out: the session is gone, and the API says so as a problem.
    assert delete_session.sync_detailed(client=api).status_code == 204
    after = listing.sync_detailed(client=api)
    assert after.status_code == 401
    assert after.parsed.type_ == models.ProblemOutType("urn:nxwa-onboarding:problem:unauthenticated")


#: The TypeScript side, pinned (npm registry).
NODE_PACKAGES = (
    "openapi-typescript@7.13.0",
    "openapi-fetch@0.17.0",
    "typescript@5.9.3",
    "@types/node@20.19.25",
)
NODE_TOOLS = (
    ROOT_DIR / ".cache" / ("ts-client-" + "-".join(p.replace("@types/", "types-") for p in NODE_PACKAGES))
)
TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "target": "es2022",
        "module": "es2022",
        "moduleResolution": "bundler",
        "outDir": "dist",
        "types": ["node"],
        "skipLibCheck": True,
        "noEmitOnError": True,
    },
    "files": ["merchant_flow.ts"],
}


def run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def typescript_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """merchant_flow.ts compiled against the types generated from the document."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("needs node and npm (the TypeScript client's tools come from the npm registry)")
    bin_dir = NODE_TOOLS / "node_modules" / ".bin"
    if not (bin_dir / "tsc").exists() or not (bin_dir / "openapi-typescript").exists():
        NODE_TOOLS.mkdir(parents=True, exist_ok=True)
        run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--prefix",
                ".",
                *NODE_PACKAGES,
            ],
            NODE_TOOLS,
        )
    folder = tmp_path_factory.mktemp("typescript")
    (folder / "node_modules").symlink_to(NODE_TOOLS / "node_modules")
    (folder / "package.json").write_text('{"type": "module"}')
    (folder / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    shutil.copy(Path(__file__).parent / "merchant_flow.ts", folder)
    run([str(bin_dir / "openapi-typescript"), str(DOCUMENT_PATH), "-o", "schema.d.ts"], folder)
    run([str(bin_dir / "tsc"), "-p", "."], folder)  # --strict: a wrong field or path fails here
    return folder / "dist" / "merchant_flow.js"


@pytest.mark.usefixtures("follower")
def test_a_generated_typescript_client_takes_a_number_from_sign_in_to_registered(
    typescript_client: Path, sandbox_server: str, customer: Any
) -> None:
    flow = subprocess.Popen(
        ["node", str(typescript_client), sandbox_server + ROOT, "customer", PASSWORD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert flow.stdin is not None
    assert flow.stdout is not None
    steps: dict[str, Any] = {}
    try:
        for line in flow.stdout:
            step = json.loads(line)
            steps[step["step"]] = step
            if step["step"] == "created":
                code = DatabaseState().latest_code("447400123456")
                assert code is not None
                flow.stdin.write(code + "\n")
                flow.stdin.flush()
        assert flow.wait(timeout=60) == 0, flow.stderr.read() if flow.stderr else ""
    finally:
        if flow.poll() is None:
            flow.kill()
            flow.wait()
        for stream in (flow.stdin, flow.stdout, flow.stderr):
            if stream is not None:
                stream.close()
    assert steps["wrong-password"] == {
        "step": "wrong-password",
        "status": 400,
        "type": "urn:nxwa-onboarding:problem:login-failed",
    }
    assert steps["signed-in"]["username"] == "customer"
    assert steps["created"]["e164"] == "+447400123456"
    assert steps["created"]["outcome"] == "sent"
    assert steps["checked"]["status"] in ("verified", "client_created")
    assert steps["done"]["seen"][-1] == "registered", steps["done"]
    assert steps["done"]["progress"] == 4
    assert steps["signed-out"] == {
        "step": "signed-out",
        "status": 204,
        "after": 401,
        "type": "urn:nxwa-onboarding:problem:unauthenticated",
    }
    stored = PhoneRegistration.objects.get()
    assert stored.status == PhoneRegistration.Status.REGISTERED
    assert set(stored.attempts.values_list("channel", flat=True)) == {Channel.API}
