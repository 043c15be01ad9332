"""Settings for the test suite. ``DATABASE_URL`` picks the database (SQLite by default)."""

from __future__ import annotations

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "tests-only-secret-key-not-for-production-0123456789"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
USE_I18N = True

DATABASES = {
    "default": environ.Env.db_url_config(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'test.sqlite3'}")
    )
}
# Parallel runs on one machine (several developers, CI) keep apart with NXWA_TEST_DB_SUFFIX.
_suffix = os.environ.get("NXWA_TEST_DB_SUFFIX", "")
# A live server and a follower thread write at once: SQLite's deferred transactions fail such a
# pair at once with "database is locked"; IMMEDIATE ones wait their turn
# (tests/project/test_sqlite_writers.py).
SQLITE_OPTIONS = {"transaction_mode": "IMMEDIATE", "timeout": 20}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f"test-db{_suffix}.sqlite3")}
    DATABASES["default"]["OPTIONS"] = SQLITE_OPTIONS
elif _suffix:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_suffix}"}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "nxwa_onboarding",
    "nxwa_onboarding.sandbox",
    # The database backend's table, for the worker tests (tests/test_tasks.py); the suite's
    # own default is the immediate backend (no TASKS setting). RQ needs only RQ_QUEUES here (its
    # worker's settings add django_rq, whose unmanaged dashboard model would upset dumpdata).
    "django_tasks_db",
]
# A Redis database of its own (other projects on this machine use 0).
RQ_QUEUES = {"default": {"URL": os.environ.get("NXWA_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")}}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tests.urls"
LOGIN_URL = "/accounts/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ]
        },
    }
]

STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

NXWA_ONBOARDING = {
    "ACCESS_KEY": "test-access-key",
    "ACCESS_SECRET": "test-access-secret-CANARY-7f3a",
    "BASE_URL": "https://api2.nxcloud.com",
    "APP_KEY": "test-app-key",
    "WEBHOOK_BASE_URL": "https://onboarding.example.com",
    # The sandbox is installed for its own tests; pytest-django runs with DEBUG off.
    "SANDBOX_ALLOW_WITHOUT_DEBUG": True,
    "SANDBOX_REGISTER_STEPS": (0, 0),
}

#: The rule limits out of the way, for servers under a load that comes from one address and one
#: customer (tests/settings_served.py, benchmarks/settings.py); the limits are tested elsewhere.
LIMITS_OUT_OF_THE_WAY = {
    "MAX_ATTEMPTS_PER_IP_PER_HOUR": 10**9,
    "MAX_SENDS_PER_DAY": 10**6,
    "MAX_SENDS_PER_IP_PER_HOUR": 10**9,
    "MAX_SENDS_PER_OWNER_PER_DAY": 10**9,
    "MAX_SENDS_PER_DAY_GLOBAL": 10**9,
    "MAX_OPEN_REGISTRATIONS_PER_OWNER": 10**9,
}
