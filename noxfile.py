"""The supported Djangos, each on its own Python: ``make matrix`` (or ``nox``, ``nox -s django6.1``).

Each session installs the package with its ``[test,api]`` extras and the newest release of one Django
series, then runs the whole suite except the browser tests, with warnings as errors (a
deprecation in Django or in our use of it fails the run). The newest Django runs on PostgreSQL
(``POSTGRES_URL``, as in the Makefile); the others on SQLite.

Interpreters are looked up on ``PATH`` (``python3.12`` ...), after pyenv's installed versions when
pyenv is there, so a machine with ``pyenv install 3.12`` needs nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

POSTGRES_URL = os.environ.get("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")

#: (Django series, Python, database): what the classifiers in pyproject.toml promise.
MATRIX = (
    ("5.2", "3.11", "sqlite"),
    ("6.0", "3.12", "sqlite"),
    ("6.1", "3.13", "postgres"),
)

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = [f"django{django}" for django, _, _ in MATRIX]


def _pyenv_bins() -> list[str]:
    """``bin`` of every Python pyenv installed, newest patch release first."""
    # Where `pyenv root` looks: $PYENV_ROOT, else ~/.pyenv.
    versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if not versions.is_dir():
        return []

    def key(path: Path) -> tuple[int, ...]:
        return tuple(int(part) if part.isdigit() else -1 for part in path.name.split("."))

    return [str(path / "bin") for path in sorted(versions.iterdir(), key=key, reverse=True)]


os.environ["PATH"] = os.pathsep.join([*_pyenv_bins(), os.environ.get("PATH", "")])


def _suite(session: nox.Session, django: str, database: str) -> None:
    session.install(".[test,api]", f"Django~={django}.0")
    session.run("python", "-c", "import django, sys; print('Django', django.__version__, 'on', sys.version)")
    env = {
        # Test databases of their own, so a matrix run and `make test` can share the machine.
        "NXWA_TEST_DB_SUFFIX": "_nox_" + django.replace(".", ""),
        "PYTHONWARNINGS": "error::DeprecationWarning,error::PendingDeprecationWarning",
    }
    if database == "postgres":
        env["DATABASE_URL"] = POSTGRES_URL
    session.run(
        "python",
        "-m",
        "pytest",
        "-m",
        "not browser and not schemathesis and not pg_restart and not deploy",
        "-W",
        "error",
        "-p",
        "no:cacheprovider",
        "-q",
        *session.posargs,
        env=env,
    )


def _register(django: str, python: str, database: str) -> None:
    @nox.session(name=f"django{django}", python=python)
    def tests(session: nox.Session) -> None:
        _suite(session, django, database)

    tests.__doc__ = f"The suite on Django {django}, Python {python}, {database}."


for _django, _python, _database in MATRIX:
    _register(_django, _python, _database)
