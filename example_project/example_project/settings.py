"""Example project settings, read from the environment with django-environ.

With an empty environment these are production settings: DEBUG is off, and the project refuses
to start until SECRET_KEY is set. ``make demo`` sets DEBUG=1, which runs the demo on one machine
against the offline NXCloud sandbox mounted at /sandbox/nxcloud/ with a development-only key.
For production set SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and the real NXWA_ACCESS_KEY /
NXWA_ACCESS_SECRET (NXWA_BASE_URL then defaults to NXCloud).
"""

from __future__ import annotations

from pathlib import Path

import django
import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
PORT = environ.Env().str("PORT", default="8000")

env = environ.Env(DEBUG=(bool, False))
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DEBUG")
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set the SECRET_KEY environment variable (a long random string, e.g. from "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`): DEBUG is off, so "
            "there is no development key. For the local demo run `make demo`, or set DEBUG=1."
        )
    SECRET_KEY = "demo-only-insecure-key-change-me"  # DEBUG only: never served in production
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
SANDBOX = env.bool("NXWA_SANDBOX", default=DEBUG)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "nxwa_onboarding",
    "demo",
    # The background work's queue: the database backend, run by `manage.py db_worker`
    # (`make demo` starts one beside the web server).
    "django_tasks_db",
]
if SANDBOX:
    INSTALLED_APPS.append("nxwa_onboarding.sandbox")

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

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The site and the worker write at once: SQLite's default (deferred) transactions fail such a
    # pair at once with "database is locked"; IMMEDIATE ones wait their turn.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

IMMEDIATE_PACKAGE = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
# NXWA_TASKS=immediate runs the background work inside the requests instead (no worker; then run
# `manage.py nxwa_follow` from cron).
TASKS = {
    "default": {
        "BACKEND": {
            "database": "django_tasks_db.DatabaseBackend",
            "immediate": f"{IMMEDIATE_PACKAGE}.backends.immediate.ImmediateBackend",
        }[env.str("NXWA_TASKS", default="database")]
    }
}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/onboarding/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

NXWA_ONBOARDING = {
    "ACCESS_KEY": env.str("NXWA_ACCESS_KEY", default="sandbox-access-key" if SANDBOX else ""),
    "ACCESS_SECRET": env.str("NXWA_ACCESS_SECRET", default="sandbox-access-secret" if SANDBOX else ""),
    "BASE_URL": env.str(
        "NXWA_BASE_URL",
        default=f"http://127.0.0.1:{PORT}/sandbox/nxcloud" if SANDBOX else "https://api2.nxcloud.com",
    ),
    "APP_KEY": env.str("NXWA_APP_KEY", default="sandbox-app-key" if SANDBOX else ""),
    # Where NXCloud (here: the sandbox, on this same server) sends each application's callbacks.
    "WEBHOOK_BASE_URL": env.str(
        "NXWA_WEBHOOK_BASE_URL", default=f"http://127.0.0.1:{PORT}" if SANDBOX else ""
    ),
}

if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"nxwa_onboarding": {"handlers": ["console"], "level": "INFO"}},
}
