"""The processes of ``benchmarks/cluster/run.py``: started with their output in a log file each, in
a session of their own, and stopped one after another, newest first (the web instances, then the
workers, then NXCloud, so that no worker's last task meets a NXCloud already gone): SIGTERM to
the group (gunicorn's workers and RQ's work horses with it), then SIGKILL for whatever is still
there after a grace period.

Each log is read in two parts, split where its process was told to stop: what it wrote while the
run was under way, and what it wrote while stopping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from harness.processes import gunicorn_args, wait_until_answers

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    output: IO[bytes]
    #: The log's size when the process was told to stop (None: not yet).
    stop_offset: int | None = None
    #: The exit code of a process that had exited before it was told to stop.
    exited_early: int | None = None

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def answers(self, url: str, seconds: float = 60) -> None:
        """Wait until the server answers at ``url``; raises with its log's tail if it never does."""
        wait_until_answers(url, self.process, seconds, output=lambda: f"{self.name}:\n{self.tail()}")

    def tracebacks(self, *, stopping: bool = False) -> list[str]:
        """The tracebacks the process wrote while running (or, ``stopping``: while stopping),
        each from its header to its exception's line."""
        data = self.log.read_bytes()
        cut = len(data) if self.stop_offset is None else self.stop_offset
        text = (data[cut:] if stopping else data[:cut]).decode(errors="replace")
        return tracebacks_in(text)


TRACEBACK = "Traceback (most recent call last)"


def tracebacks_in(text: str) -> list[str]:
    """Every traceback in ``text``: the header, its indented frames, and the first line after
    them that is not indented (the exception)."""
    found: list[str] = []
    block: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(TRACEBACK):
            block = [line]
        elif block is not None:
            block.append(line)
            if line and not line[0].isspace():
                found.append("\n".join(block))
                block = None
    if block is not None:
        found.append("\n".join(block))
    return found


@dataclass
class Processes:
    """``with Processes(log_dir) as started:``; every process is stopped on the way out."""

    log_dir: Path
    started: list[Started] = field(default_factory=list)

    def __enter__(self) -> Processes:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Started:
        log = self.log_dir / f"{name}.log"
        output = log.open("wb")
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: its children are stopped with it
        )
        entry = Started(name, process, log, output)
        self.started.append(entry)
        return entry

    def gunicorn(self, name: str, port: int, env: dict[str, str], *, workers: int, threads: int) -> Started:
        args = gunicorn_args(port, "benchmarks.wsgi:application", workers=workers, threads=threads)
        return self.start(name, args, env)

    def stop_all(self, grace: float = 20.0) -> None:
        for entry in self.started:
            if entry.stop_offset is None:
                entry.stop_offset = entry.log.stat().st_size
                entry.exited_early = entry.process.poll()
        for entry in reversed(self.started):
            if entry.process.poll() is not None:
                continue
            # The leader is alive (not reaped), so its process group id is still its own.
            os.killpg(entry.process.pid, signal.SIGTERM)
            try:
                entry.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(entry.process.pid, signal.SIGKILL)
                entry.process.wait()
        for entry in self.started:
            entry.output.close()
