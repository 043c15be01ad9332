"""What ``benchmarks/cluster/run.py`` holds a run to about its processes' logs: tracebacks found
and split where the process was told to stop; those while stopping counted only through the
app's code; a process gone before the end is a failure."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from benchmarks.cluster.counts import apps_tracebacks_stopping, failures
from benchmarks.cluster.processes import Started, tracebacks_in

CHAINED = """Task id=1 state=RUNNING
Traceback (most recent call last):
  File "/site/psycopg/cursor.py", line 97, in execute
    raise ex
psycopg.OperationalError: the connection is closed

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/src/nxwa_onboarding/tasks.py", line 90, in set_up_client
    registration = create_client(registration)
django.db.utils.OperationalError: the connection is closed
Task id=1 state=FAILED
"""


def test_every_traceback_is_found_from_its_header_to_its_exception() -> None:
    blocks = tracebacks_in(CHAINED)
    assert len(blocks) == 2
    assert blocks[0].endswith("psycopg.OperationalError: the connection is closed")
    assert blocks[1].endswith("django.db.utils.OperationalError: the connection is closed")
    assert tracebacks_in("Task id=1 state=SUCCESSFUL\n") == []


def test_a_log_is_split_where_its_process_was_told_to_stop(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text(CHAINED)
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    entry = Started("worker1", process, log, io.BytesIO())
    entry.stop_offset = log.stat().st_size
    with log.open("a") as more:
        more.write('Traceback (most recent call last):\n  File "/site/x.py", line 1\nSystemExit: 0\n')
    assert len(entry.tracebacks()) == 2
    assert [b.splitlines()[-1] for b in entry.tracebacks(stopping=True)] == ["SystemExit: 0"]


def test_tracebacks_while_stopping_count_against_the_run_only_through_the_apps_code() -> None:
    third_party = 'Traceback (most recent call last):\n  File "/site/django_tasks_db/x.py"\nSystemExit: 0'
    ours = tracebacks_in(CHAINED)[1]
    both = {"tracebacks_stopping": {"worker1": [third_party, ours]}}
    assert apps_tracebacks_stopping({"tracebacks_stopping": {"worker1": [third_party]}}) == {}
    assert apps_tracebacks_stopping(both) == {"worker1": 1}


def test_a_process_gone_before_the_end_and_a_traceback_while_running_are_failures() -> None:
    said = failures({"merchants": 1, "backend": "db", "exited_early": {"worker1": 1}})
    assert "processes that exited during the run: {'worker1': 1}" in said
    said = failures({"merchants": 1, "backend": "db", "tracebacks": {"worker1": ["a", "b"]}})
    assert "tracebacks while running: {'worker1': 2}" in said
    assert not any("exited" in s or "traceback" in s for s in failures({"merchants": 1, "backend": "db"}))
