"""The cluster run: two gunicorn instances and two workers on one PostgreSQL, merchants verifying
at once (``python benchmarks/cluster/run.py [--quick] [--backend db|rq]``)."""
