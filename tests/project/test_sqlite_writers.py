"""SQLite with two writers: the suite's live-server tests and the demo run a worker beside the site.

In SQLite's default (deferred) transactions a reader that later writes cannot wait for another
writer: SQLite answers "database is locked" at once, without the busy timeout, because waiting
could deadlock. A follow pass that read a registration and then wrote it, while the live server
committed a check, died that way on CI (stop 27). ``BEGIN IMMEDIATE`` takes the write lock first,
so the second writer waits its turn instead; Django has the option since 5.1.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import environ
import pytest

from tests import settings as suite_settings
from tests.helpers.demo import run_in_demo


def _demo_database() -> dict[str, object]:
    """The demo's database as ``make demo`` has it: no DATABASE_URL, so SQLite."""
    code = "import json; from example_project import settings as s; print(json.dumps(s.DATABASES['default']))"
    said = run_in_demo(code, DATABASE_URL="")
    assert said.returncode == 0, said.stderr
    return dict(json.loads(said.stdout))


def test_deferred_writers_fail_at_once_and_immediate_ones_wait(tmp_path: Path) -> None:
    """The mechanism, on SQLite itself: why the option matters."""
    path = tmp_path / "two.sqlite3"
    setup = sqlite3.connect(path)
    setup.execute("CREATE TABLE t (n INTEGER)")
    setup.execute("INSERT INTO t VALUES (0)")
    setup.commit()
    setup.close()

    def pair(begin: str) -> BaseException | None:
        a = sqlite3.connect(path, timeout=2, isolation_level=None, check_same_thread=False)
        b = sqlite3.connect(path, timeout=2, isolation_level=None, check_same_thread=False)
        a.execute(begin)
        a.execute("SELECT n FROM t").fetchall()
        failure: list[BaseException] = []

        def second() -> None:
            try:
                b.execute(begin)
                b.execute("SELECT n FROM t").fetchall()
                b.execute("UPDATE t SET n = n + 1")
                b.execute("COMMIT")
            except sqlite3.OperationalError as err:
                failure.append(err)
                if b.in_transaction:
                    b.execute("ROLLBACK")

        other = threading.Thread(target=second)
        other.start()
        other.join(timeout=0.3)  # b has read (deferred) or is waiting at BEGIN (immediate)
        try:
            a.execute("UPDATE t SET n = n + 1")
            a.execute("COMMIT")
        except sqlite3.OperationalError as err:
            failure.append(err)
            a.execute("ROLLBACK")
        other.join(timeout=5)
        a.close()
        b.close()
        return failure[0] if failure else None

    deferred = pair("BEGIN")
    assert isinstance(deferred, sqlite3.OperationalError)
    assert "locked" in str(deferred)
    assert pair("BEGIN IMMEDIATE") is None


@pytest.mark.parametrize("where", ["suite", "demo"])
def test_sqlite_databases_begin_their_transactions_immediate(where: str) -> None:
    if where == "suite":
        database = dict(suite_settings.DATABASES["default"])
        if database["ENGINE"] != "django.db.backends.sqlite3":  # a PostgreSQL run: read the default
            database = environ.Env.db_url_config("sqlite:///x.sqlite3")
            database["OPTIONS"] = suite_settings.SQLITE_OPTIONS
    else:
        database = _demo_database()
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
