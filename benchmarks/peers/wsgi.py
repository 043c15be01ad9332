"""WSGI entry point for the peers section (``gunicorn benchmarks.peers.wsgi:application``)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.peers.settings")
application = get_wsgi_application()
