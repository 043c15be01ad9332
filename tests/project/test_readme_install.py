"""The installation guide's steps, applied as printed to a fresh ``django-admin startproject``.

The snippets are read from the guide itself, ``docs/howto/install.md`` (each code block follows an
``<!-- install:NAME -->`` comment), so an edit that breaks them fails here. Then the host project
is migrated and checked, served by ``runserver``, and a customer walks the flow against the
offline sandbox: sign in, start a registration, read the code from the sandbox's inbox, type it
in, see the number verified.

Everything runs in subprocesses of this interpreter with the checkout first on ``PYTHONPATH``, so
the package under test is this checkout's, whatever else is installed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers.guide import HostFiles, install_snippets

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+86 138 0013 8000"
DIGITS = "8613800138000"
USERNAME = "merchant"
PASSWORD = "readme-install-pass-9d1c"
# The only change made to a snippet: the sandbox's BASE_URL names runserver's port, and this test
# cannot count on 8000 being free.
GUIDE_PORT = "127.0.0.1:8000"

NAMES = {
    "settings",
    "urls",
    "login-settings",
    "login-template",
    "i18n-settings",
    "sandbox-settings",
    "sandbox-urls",
}


def test_the_guide_marks_every_installation_snippet() -> None:
    assert set(install_snippets()) == NAMES


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Host(HostFiles):
    """A throwaway host project and how to run its ``manage.py``."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("NXWA_", "DJANGO_")) and key != "DATABASE_URL"
        }
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        # As in the suite: a deprecation in the host project's start-up is an error.
        self.env["PYTHONWARNINGS"] = "error::DeprecationWarning,error::PendingDeprecationWarning"

    def manage(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.path,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def python(self, code: str) -> str:
        return self.manage("shell", "-c", code).stdout


@pytest.fixture
def host(tmp_path: Path) -> Host:
    project = tmp_path / "host"
    project.mkdir()
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "hostsite", str(project)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return Host(project)


@pytest.fixture
def server(host: Host) -> Iterator[str]:
    """The guide applied in order, migrated, checked and served; yields the server's root URL."""
    snippets = install_snippets()
    port = _free_port()

    # Steps 3 to 6: settings, URLs, a login, LocaleMiddleware.
    host.append("hostsite/settings.py", snippets["settings"])
    host.write("hostsite/urls.py", snippets["urls"])
    host.append("hostsite/settings.py", snippets["login-settings"])
    host.write("templates/registration/login.html", snippets["login-template"])
    host.append("hostsite/settings.py", snippets["i18n-settings"])

    # Without credentials the project says which setting is missing (no KeyError, no traceback).
    missing = host.manage("check", check=False)
    assert missing.returncode != 0
    assert "nxwa_onboarding.E001" in missing.stderr
    assert "nxwa_onboarding.E002" in missing.stderr
    assert "Traceback" not in missing.stderr
    host.manage(
        "check", "--fail-level", "WARNING", NXWA_ACCESS_KEY="key-from-env", NXWA_ACCESS_SECRET="secret"
    )

    # Step 8: the sandbox plays NXCloud on this server.
    sandbox_settings = snippets["sandbox-settings"].replace(GUIDE_PORT, f"127.0.0.1:{port}")
    host.append("hostsite/settings.py", sandbox_settings)
    host.append("hostsite/urls.py", snippets["sandbox-urls"])

    # Step 7.
    host.manage("migrate", "--noinput")
    host.manage("check", "--fail-level", "WARNING")
    host.manage(
        "createsuperuser",
        "--noinput",
        DJANGO_SUPERUSER_USERNAME=USERNAME,
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        DJANGO_SUPERUSER_EMAIL="merchant@example.com",
    )

    log = host.path / "runserver.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=host.path,
            env=host.env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "runserver exited:\n" + log.read_text()
            try:
                requests.get(root + "/accounts/login/", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "runserver did not start:\n" + log.read_text()
                time.sleep(0.2)
        yield root
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Shown by pytest only when the test failed.
    print(log.read_text())


def _post(session: requests.Session, url: str, data: dict[str, str]) -> requests.Response:
    token = session.cookies["csrftoken"]
    response = session.post(url, data={"csrfmiddlewaretoken": token, **data}, timeout=30)
    assert response.status_code == 200, (url, response.status_code, response.text[:2000])
    return response


def test_the_installation_guide_runs_the_customer_flow(server: str, host: Host) -> None:
    session = requests.Session()

    # The customer pages send a stranger to the login the guide set up.
    page = session.get(server + "/onboarding/", timeout=30)
    assert page.status_code == 200
    assert page.url == server + "/accounts/login/?next=/onboarding/"
    assert 'name="username"' in page.text

    page = _post(session, page.url, {"username": USERNAME, "password": PASSWORD, "next": "/onboarding/"})
    assert page.url == server + "/onboarding/"

    session.get(server + "/onboarding/start/", timeout=30).raise_for_status()
    page = _post(session, server + "/onboarding/start/", {"phone_number": PHONE, "method": "sms"})
    match = re.fullmatch(re.escape(server) + r"/onboarding/r/(?P<id>[0-9a-f-]{36})/", page.url)
    assert match, page.url
    public_id = match["id"]

    # The merchant's phone: the sandbox's inbox, which keeps what it "delivered" in its tables.
    inbox = session.get(f"{server}/sandbox/nxcloud/inbox/{DIGITS}/", timeout=30)
    assert inbox.status_code == 200
    out = host.python(
        "import nxwa_onboarding\n"
        "from nxwa_onboarding.sandbox.models import SandboxMessage\n"
        "print('FILE=' + nxwa_onboarding.__file__)\n"
        f"print('CODE=' + SandboxMessage.objects.filter(phone_number='{DIGITS}').latest('id').code)"
    )
    assert f"FILE={ROOT / 'nxwa_onboarding' / '__init__.py'}\n" in out  # this checkout, not an install
    code = re.search(r"^CODE=(\d+)$", out, re.MULTILINE)
    assert code, out
    assert code[1][:3] in inbox.text  # the inbox page shows it too

    page = _post(session, f"{server}/onboarding/r/{public_id}/check/", {"code": code[1]})
    assert page.url == f"{server}/onboarding/r/{public_id}/"
    out = host.python(
        "from nxwa_onboarding.models import PhoneRegistration\n"
        f"r = PhoneRegistration.objects.get(public_id='{public_id}')\n"
        "print('STATUS=' + r.status, 'VERIFIED=' + str(r.verified_at is not None),"
        " 'OWNER=' + r.owner.username)"
    )
    assert re.search(r"STATUS=(verified|client_created|registered) VERIFIED=True OWNER=merchant", out), out

    # LocaleMiddleware (step 6) serves the pages in the visitor's language.
    chinese = session.get(server + "/onboarding/", headers={"Accept-Language": "zh-Hans"}, timeout=30)
    assert chinese.status_code == 200
    assert '<html lang="zh-hans"' in chinese.text
