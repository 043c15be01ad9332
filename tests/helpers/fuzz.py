"""How hard the property tests try: ``HYPOTHESIS_PROFILE=ci`` (``.ci/run``) runs every test's
full count; a local run (the ``dev`` profile) a tenth of it, so ``make test`` stays quick."""

from __future__ import annotations

import os

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")


def examples(full: int) -> int:
    """The number of examples to try: ``full`` on CI, a tenth (at least 10) elsewhere."""
    return full if PROFILE == "ci" else max(10, full // 10)
