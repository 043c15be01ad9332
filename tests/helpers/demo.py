"""The demo's seed, run as the Makefile runs it."""

from __future__ import annotations

import importlib.util
import sys
from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import call_command

DEMO_SETUP = Path(__file__).resolve().parents[2] / "example_project/demo/management/commands/demo_setup.py"


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
