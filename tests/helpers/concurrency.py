"""Threads released together, each with its own database connection (PostgreSQL's races)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection

T = TypeVar("T")


THREADS = 50


ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def in_threads(work: Callable[[int], T], count: int = THREADS) -> list[T]:
    """Run ``work(i)`` in ``count`` threads released together; each uses (and closes) its own
    database connection. Any exception in a thread fails the test."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            connection.ensure_connection()  # open this thread's own connection before the start
            barrier.wait(timeout=60)
            results[index] = work(index)
        except BaseException as err:
            errors.append(err)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,), name=f"submit-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    assert not errors, errors
    return results
