"""A separate process that calls a service against the test database, for the crash test.

    python tests/helpers/crash_child.py check <public_id> <code>
    python tests/helpers/crash_child.py send <public_id>

The parent passes the database (``NXWA_CHILD_DATABASE``: JSON of ENGINE, NAME, USER, PASSWORD,
HOST, PORT, OPTIONS: on SQLite the test database file, on PostgreSQL the test database) and the
loopback server (``NXWA_CHILD_BASE_URL``) through the environment. The server hangs, the call
never returns, and the parent kills this process with SIGKILL while the call is in flight.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import tests.settings as test_settings

    # Before django.setup() reads them: the parent's test database and the loopback server.
    test_settings.DATABASES = {"default": json.loads(os.environ["NXWA_CHILD_DATABASE"])}
    test_settings.NXWA_ONBOARDING = {
        **test_settings.NXWA_ONBOARDING,
        "BASE_URL": os.environ["NXWA_CHILD_BASE_URL"],
        "TIMEOUT": (5.0, 300.0),  # the call must still be in flight when the parent kills us
    }

    import django

    django.setup()
    from nxwa_onboarding import services
    from nxwa_onboarding.models import PhoneRegistration

    action, public_id = argv[0], argv[1]
    registration = PhoneRegistration.objects.get(public_id=public_id)
    print(f"child {os.getpid()}: calling {action}", flush=True)
    if action == "check":
        row: object = services.check_code(registration, argv[2], channel="command")
    else:
        row = services.request_code(registration, channel="command")
    print(f"child: the call returned ({row}); the parent should have killed us", flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
