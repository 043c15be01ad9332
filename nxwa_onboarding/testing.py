"""Test helpers for host projects (a pytest plugin). Filled in by the sandbox issue.

Loaded by pytest through the ``pytest11`` entry point before Django is set up: import nothing
from Django models at module level.
"""
