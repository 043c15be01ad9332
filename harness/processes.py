"""Servers in child processes, for the fault tests and the benchmarks alike: gunicorn's command
line, waiting until a server answers, and stopping it. No Django here: the benchmarks import
this before Django is set up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import requests

ROOT = Path(__file__).resolve().parent.parent  # the repository (harness/ is at its top)


def free_port() -> int:
    """A local port nothing listens on now (for a server about to start there)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gunicorn_args(port: int, app: str, *, workers: int, threads: int = 1) -> list[str]:
    """``python``'s arguments for gunicorn serving ``app`` on 127.0.0.1:``port``: sync workers
    (gthread with ``threads`` > 1), warnings only in its log."""
    args = ["-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
    if threads > 1:
        args += ["--worker-class", "gthread", "--threads", str(threads)]
    return [*args, "--log-level", "warning", app]


def wait_until_answers(
    url: str, process: subprocess.Popen[Any], seconds: float = 30, output: Callable[[], str] = str
) -> None:
    """Until ``url`` answers at all (any status): the server is up. Raises, with ``output()``
    (what the server said), if the process exits first or nothing answers within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{output()}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered at {url} within {seconds:g} s:\n{output()}")


def stop(process: subprocess.Popen[Any], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_tail(log: IO[bytes], size: int = 4000) -> str:
    """The end of a log a child process writes to (read without moving the shared offset)."""
    end = os.fstat(log.fileno()).st_size
    return os.pread(log.fileno(), size, max(0, end - size)).decode(errors="replace")


@contextmanager
def gunicorn(
    app: str, env: dict[str, str], log: IO[bytes], *, workers: int, ready_path: str
) -> Iterator[str]:
    """gunicorn serving ``app`` from this repository on a free local port, ``env`` added to the
    environment (the settings module and what it reads), its output in ``log``; yields its base
    URL once ``ready_path`` answers, and stops it on the way out."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, *gunicorn_args(port, app, workers=workers)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_answers(base + ready_path, process, output=lambda: log_tail(log))
        yield base
    finally:
        stop(process)
