"""The peers section of ``make bench`` (issue 25): this app's customer pages, django-allauth's
phone verification and a hand-written view (one row, one signed checkCode call) served side by
side by one gunicorn on PostgreSQL, against one loopback NXCloud stand-in.

The peers live here, in the benchmark's own project (settings, urls, adapter, models), never in
the package. ``bench.py`` runs in a child process with ``benchmarks.peers.settings`` (its own
database, made and dropped there); ``client.py`` is the light load generator.
"""
