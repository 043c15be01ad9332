"""Sphinx configuration: `make docs` builds this site with warnings as errors."""

from __future__ import annotations

import sys
from pathlib import Path

import django
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent / "_ext")]

# The reference pages are generated from the code (docs/_ext/nxwa_reference.py), which needs
# Django set up; no database is touched.
if not settings.configured:
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "nxwa_onboarding",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        USE_TZ=True,
    )
    django.setup()

import nxwa_onboarding  # noqa: E402

project = "django-nxwa-onboarding"
author = "django-nxwa-onboarding maintainers"
copyright = "django-nxwa-onboarding maintainers"
release = nxwa_onboarding.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.graphviz",
    "nxwa_reference",
]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store"]

html_theme = "furo"
html_title = f"django-nxwa-onboarding {release}"
html_static_path = ["_static"]
graphviz_output_format = "svg"
