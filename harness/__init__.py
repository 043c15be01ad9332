"""What the tests and the benchmarks both run: processes (gunicorn, a free port, waiting until a
server answers, stopping it), the loopback NXCloud stand-in and a signed-in HTTP session.

Plain Python and ``requests``; nothing here imports Django or the app, so the benchmarks use it
before Django is set up. Not part of the package that is shipped."""
