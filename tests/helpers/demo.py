"""The demo's seed, run as the Makefile runs it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import call_command

EXAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "example_project"
DEMO_SETUP = EXAMPLE_PROJECT / "demo/management/commands/demo_setup.py"


def run_in_demo(script: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """``script`` run by a fresh Python in the demo's project folder with its settings
    (``DEBUG=1``), this environment changed by ``environment`` (a value of "" removes it)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings", "DEBUG": "1", **environment}
    env = {name: value for name, value in env.items() if value}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=EXAMPLE_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def demo_setup() -> Any:
    """The example project's command, loaded from its file (the demo app is not installed here)."""
    spec = importlib.util.spec_from_file_location("nxwa_demo_setup", DEMO_SETUP)
    assert spec is not None
    assert spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up while being made
        spec.loader.exec_module(module)
    return module.Command()


def run_demo_setup() -> str:
    out = StringIO()
    call_command(demo_setup(), stdout=out)
    return out.getvalue()
