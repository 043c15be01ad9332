"""Benchmarks for django-nxwa-onboarding (``make bench``); not part of the package."""
