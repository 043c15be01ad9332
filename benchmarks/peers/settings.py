"""The peers' host project: the benchmark settings, plus django-allauth's account app with
phone login and verification, and this folder's app (the adapter's phone storage and the
hand-written view's row).

allauth's rate limits are off and its attempts unlimited, as this app's limits are out of the
way in ``benchmarks.settings``: every side pays its checks, none is refused. allauth's adapter
never asks for reauthentication here (the benchmark's sessions are made in the database, without
a login's authentication records); that is a lookup in the session either way.
"""

from __future__ import annotations

import os

from benchmarks import settings as _bench
from tests import settings as _base

globals().update({name: getattr(_bench, name) for name in dir(_bench) if name.isupper()})
DATABASES = _bench.DATABASES
NXWA_ONBOARDING = _bench.NXWA_ONBOARDING
if "NXWA_BENCH_DB_NAME" not in os.environ and DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # Its own database beside the other sections' (NXWA_TEST_DB_SUFFIX keeps checkouts apart).
    _suffix = os.environ.get("NXWA_TEST_DB_SUFFIX", "")
    DATABASES["default"]["TEST"] = {"NAME": "test_nxwa_bench_peers" + (f"_{_suffix}" if _suffix else "")}

ROOT_URLCONF = "benchmarks.peers.urls"
INSTALLED_APPS = [*_bench.INSTALLED_APPS, "allauth", "allauth.account", "benchmarks.peers"]
MIDDLEWARE = [*_base.MIDDLEWARE, "allauth.account.middleware.AccountMiddleware"]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

ACCOUNT_ADAPTER = "benchmarks.peers.adapter.LoopbackAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"phone"}
ACCOUNT_SIGNUP_FIELDS = ["phone*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_PHONE_VERIFICATION_ENABLED = True
ACCOUNT_PHONE_VERIFICATION_MAX_ATTEMPTS = 10**9
ACCOUNT_RATE_LIMITS = False
