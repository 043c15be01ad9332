"""Django's Tasks API, chosen once: ``django.tasks`` on Django 6, the ``django-tasks`` backport on
5.2. Everything else imports these names from here, so there is one code path for both."""

from __future__ import annotations

try:
    from django.tasks import Task, TaskResult, task, task_backends
except ImportError:  # Django 5.2: the backport, the same API under another name
    from django_tasks import (  # type: ignore[assignment,no-redef,unused-ignore]
        TaskResult,
        task,
        task_backends,
    )
    from django_tasks.base import Task  # type: ignore[assignment,no-redef,unused-ignore]

__all__ = ["Task", "TaskResult", "task", "task_backends"]
