"""The processes of ``benchmarks/cluster.py``: started with their output in a log file each, in
a session of their own, and stopped together (gunicorn's workers and RQ's work horses with
them): SIGTERM to the group, then SIGKILL for whatever is still there after a grace period."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    output: IO[bytes]

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def tracebacks(self) -> int:
        return self.log.read_text(errors="replace").count("Traceback (most recent call last)")


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
        args = ["-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
        if threads > 1:
            args += ["--worker-class", "gthread", "--threads", str(threads)]
        return self.start(name, [*args, "--log-level", "warning", "benchmarks.wsgi:application"], env)

    def stop_all(self, grace: float = 20.0) -> None:
        alive = [entry for entry in reversed(self.started) if entry.process.poll() is None]
        for entry in alive:
            # The leader is alive (not reaped), so its process group id is still its own.
            os.killpg(entry.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for entry in alive:
            try:
                entry.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(entry.process.pid, signal.SIGKILL)
                entry.process.wait()
        for entry in self.started:
            entry.output.close()


def wait_until_answers(url: str, entry: Started, seconds: float = 60) -> None:
    """Until ``url`` answers at all (any status): the server is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if entry.process.poll() is not None:
            raise RuntimeError(f"{entry.name} exited ({entry.process.returncode}):\n{entry.tail()}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{entry.name} did not answer at {url}:\n{entry.tail()}")
