from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_migrations_are_current() -> None:
    """A model change without its migration fails here (and would fail for every host project)."""
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:  # makemigrations --check exits 1 when something is missing
        pytest.fail(f"missing migrations:\n{out.getvalue()} (exit {exit_.code})")
