"""The deploy guide (docs/howto/deploy.md), executed: its marked blocks applied to a fresh
``django-admin startproject`` on top of the installation guide's steps (docs/howto/install.md),
its release commands run
(``check --deploy`` clean), its Procfile run by honcho (gunicorn, a ``db_worker``, the clock), and a
merchant walked from start to registered against the sandbox, behind a pretend TLS proxy.

Needs PostgreSQL at 127.0.0.1:5432 (``DATABASE_URL``'s server when set) and the ``deploy`` marker:
``make test-deploy``. About a minute.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from harness.processes import free_port
from tests.helpers.guide import HostFiles, marked_blocks

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "howto" / "deploy.md"
INSTALL = ROOT / "docs" / "howto" / "install.md"
USERNAME, PASSWORD = "merchant", "deploy-guide-pass-71c3"
PHONE, DIGITS = "+86 138 0013 8000", "8613800138000"
TOKEN = secrets.token_urlsafe(32)

#: What the test adds to the guide's production shape, and only this: the sandbox plays NXCloud
#: on the same server (with DEBUG off, which it must be told to accept), its calls to itself
#: skip the HTTPS redirect, and the follower steps quickly.
TEST_ONLY_SETTINGS = """
INSTALLED_APPS += ["nxwa_onboarding.sandbox"]
NXWA_ONBOARDING.update(
    BASE_URL=os.environ["NXWA_BASE_URL"],
    SANDBOX_ALLOW_WITHOUT_DEBUG=True,
    SANDBOX_REGISTER_STEPS=(0.5, 1.0),
    FOLLOW_BACKOFF=(0.5, 2.0),
)
SECURE_REDIRECT_EXEMPT = [r"^sandbox/"]
"""
TEST_ONLY_URLS = 'urlpatterns += [path("sandbox/nxcloud/", include("nxwa_onboarding.sandbox.urls"))]\n'


def test_the_guide_marks_its_blocks() -> None:
    assert set(marked_blocks(GUIDE, "deploy")) == {"settings", "urls", "release", "procfile"}


def postgres_params() -> dict[str, str]:
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    return {
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
        "PGPASSWORD": url.password or "",
    }


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own on the PostgreSQL server, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    params = postgres_params()
    name = "nxwa_deploy_" + re.sub(r"\W", "", os.environ.get("NXWA_TEST_DB_SUFFIX", "") or "test")
    dsn = (
        f"host={params['PGHOST']} port={params['PGPORT']} user={params['PGUSER']} "
        f"password={params['PGPASSWORD']} dbname=postgres"
    )
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Project(HostFiles):
    """The host project and the environment every one of its processes gets."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        super().__init__(path)
        self.env = env

    def run(self, command: str) -> str:
        """One line of the guide's shell (``python …``), in the project, with its environment."""
        args = command.split()
        if args[0] == "python":
            args[0] = sys.executable
        result = subprocess.run(
            args, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr


@pytest.fixture
def project(tmp_path: Path, database: str) -> Project:
    path = tmp_path / "host"
    path.mkdir()
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "hostsite", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("NXWA_", "DJANGO_", "PG"))}
    env.pop("DATABASE_URL", None)
    env.update(postgres_params())
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        PORT=str(port),
        PGDATABASE=database,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        NXWA_ACCESS_KEY="sandbox-access-key",
        NXWA_ACCESS_SECRET="sandbox-access-secret",
        NXWA_APP_KEY="sandbox-app-key",
        NXWA_OPS_TOKEN=TOKEN,
        NXWA_BASE_URL=f"http://127.0.0.1:{port}/sandbox/nxcloud",
    )
    return Project(path, env)


def read_code(project: Project) -> str:
    """The merchant's phone: the code the sandbox "delivered", from its table."""
    out = _shell(
        project,
        "from nxwa_onboarding.sandbox.models import SandboxMessage\n"
        f"print('CODE=' + SandboxMessage.objects.filter(phone_number='{DIGITS}').latest('id').code)",
    )
    found = re.search(r"^CODE=(\d+)$", out, re.MULTILINE)
    assert found, out
    return found[1]


def _shell(project: Project, code: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=project.path,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class ThroughTheProxy(requests.Session):
    """A browser behind the TLS proxy the guide assumes: ``X-Forwarded-Proto: https`` and the
    https Origin that CSRF checks (cookies marked Secure go back: ``secure_cookies_over_http``)."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.headers["X-Forwarded-Proto"] = "https"
        self.headers["Origin"] = "https://" + urlsplit(base).netloc

    def page(self, path: str, **data: str) -> requests.Response:
        if data:
            data = {"csrfmiddlewaretoken": self.cookies["csrftoken"], **data}
            response = self.post(self.base + path, data=data, timeout=30)
        else:
            response = self.get(self.base + path, timeout=30)
        assert response.status_code == 200, (path, response.status_code, response.text[:2000])
        return response


def registered(session: ThroughTheProxy) -> bool:
    metrics = session.get(session.base + "/nxwa/ops/metrics/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert metrics.status_code == 200, metrics.text
    return bool(re.search(r'^nxwa_registrations\{[^}]*status="registered"[^}]*\} 1\.0$', metrics.text, re.M))


def wait_until_served(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    """Until gunicorn answers behind the pretend proxy (a plain-http request is redirected to
    https, which nothing here speaks)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "honcho exited:\n" + log.read_text()
        try:
            requests.get(url, headers={"X-Forwarded-Proto": "https"}, allow_redirects=False, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise AssertionError(f"nothing answered at {url}:\n" + log.read_text())


@pytest.fixture
def served(project: Project) -> Iterator[str]:
    """The guide applied, released and started with honcho; yields the web process's root URL."""
    install = marked_blocks(INSTALL, "install")
    guide = marked_blocks(GUIDE, "deploy")
    project.append("hostsite/settings.py", install["settings"])
    project.write("hostsite/urls.py", install["urls"])
    project.append("hostsite/settings.py", install["login-settings"])
    project.write("templates/registration/login.html", install["login-template"])
    project.append("hostsite/settings.py", install["i18n-settings"])
    project.append("hostsite/settings.py", guide["settings"])
    project.append("hostsite/urls.py", guide["urls"])

    # The release, as printed: check --deploy is clean on the production shape itself.
    for line in guide["release"].strip().splitlines():
        out = project.run(line)
    assert "System check identified no issues" in out, out

    project.append("hostsite/settings.py", TEST_ONLY_SETTINGS)
    project.append("hostsite/urls.py", TEST_ONLY_URLS)
    project.run("python manage.py migrate --noinput")
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput"],
        cwd=project.path,
        env={
            **project.env,
            "DJANGO_SUPERUSER_USERNAME": USERNAME,
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            "DJANGO_SUPERUSER_EMAIL": "merchant@example.com",
        },
        check=True,
        capture_output=True,
        timeout=60,
    )
    project.write("Procfile", guide["procfile"])

    log_path = project.path / "honcho.log"
    with log_path.open("wb") as log:
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-p", project.env["PORT"]],
            cwd=project.path,
            env=project.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # honcho and its children: one process group to stop
        )
    base = f"http://127.0.0.1:{project.env['PORT']}"
    try:
        wait_until_served(base + "/accounts/login/", honcho, log_path)
        yield base
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        try:
            honcho.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()
        print(log_path.read_text())  # shown by pytest when the test failed


@pytest.fixture
def secure_cookies_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session and CSRF cookies are Secure (they travel over https past the proxy); this
    test speaks plain http to gunicorn, so its cookie jar sends them back all the same."""
    monkeypatch.setattr(http.cookiejar.DefaultCookiePolicy, "return_ok_secure", lambda *args: True)


@pytest.mark.usefixtures("secure_cookies_over_http")
def test_a_merchant_is_registered_on_the_production_shape(served: str, project: Project) -> None:
    session = ThroughTheProxy(served)

    # DEBUG is off: a missing page is the plain 404, not Django's technical page.
    missing = session.get(served + "/no-such-page/", timeout=30)
    assert missing.status_code == 404
    assert "DEBUG = True" not in missing.text
    # HTTPS only: a plain-http request (no proxy header) is sent to https.
    plain = requests.get(served + "/onboarding/", allow_redirects=False, timeout=30)
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")

    # Sign in; the page is styled: its stylesheet, under its content-hashed name, is served.
    login = session.page("/onboarding/")
    assert login.url.endswith("/accounts/login/?next=/onboarding/")
    stylesheet = re.search(r'href="(/static/nxwa_onboarding/onboarding\.[0-9a-f]{12}\.css)"', login.text)
    assert stylesheet, login.text[:2000]
    css = session.get(served + stylesheet[1], timeout=30)
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert "max-age=315360000" in css.headers.get("Cache-Control", "")
    session.page(
        "/accounts/login/?next=/onboarding/", username=USERNAME, password=PASSWORD, next="/onboarding/"
    )

    # Start, read the code from the sandbox's inbox, type it in.
    session.page("/onboarding/start/")
    started = session.page("/onboarding/start/", phone_number=PHONE, method="sms")
    public_id = re.search(r"/onboarding/r/([0-9a-f-]{36})/$", started.url)
    assert public_id, started.url
    status_page = f"/onboarding/r/{public_id[1]}/"
    session.page(status_page + "check/", code=read_code(project))

    # The worker creates the client and follows the number; the page polls as a browser would.
    deadline = time.monotonic() + 45
    while not registered(session):
        assert time.monotonic() < deadline, "not registered within 45 s"
        session.page(status_page)
        time.sleep(1)

    # The work was done by the worker: its task rows, finished.
    out = _shell(
        project,
        "from django_tasks_db.models import DBTaskResult\n"
        "print(sorted({r.task_path.rsplit('.', 1)[1] for r in DBTaskResult.objects.successful()}))",
    )
    assert "set_up_client" in out
    assert "follow_application" in out

    health = session.get(
        served + "/nxwa/ops/health/", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert health.status_code == 200, health.text
    assert health.json()["checks"]["tasks"]["backend"] == "DatabaseBackend"
    stranger = ThroughTheProxy(served)  # the merchant is a superuser; a stranger gets nothing
    assert stranger.get(served + "/nxwa/ops/metrics/", timeout=30).status_code == 401
