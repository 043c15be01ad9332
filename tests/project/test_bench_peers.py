"""The peers section of ``make bench`` (benchmarks/peers/) has a valid project: its settings
import, Django's and allauth's system checks pass, its migrations match its models, and its
modules import. No server, no load: CI catches a broken benchmark without timing anything
(``make check-bench`` installs the ``bench`` extra; without django-allauth this is skipped)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("allauth", reason="the bench extra (django-allauth) is not installed: make check-bench")

ROOT = Path(__file__).resolve().parents[2]


def peers_django(*args: str) -> subprocess.CompletedProcess[str]:
    """``django-admin`` with the peers' settings, in a child (its INSTALLED_APPS are not the suite's)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.peers.settings", "PYTHONPATH": str(ROOT)}
    env.pop("NXWA_BENCH_DB_NAME", None)
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_peers_project_passes_its_checks() -> None:
    done = peers_django("check", "--fail-level", "ERROR")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_peers_models_have_their_migration() -> None:
    done = peers_django("makemigrations", "peers", "--check", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr


def test_allauth_has_its_phone_flow_and_the_hand_written_view_its_route() -> None:
    code = (
        "import django; django.setup()\n"
        "from django.urls import reverse\n"
        "from allauth.account.adapter import get_adapter\n"
        "assert get_adapter()._has_phone_impl\n"
        "print(reverse('account_verify_phone'), reverse('account_change_phone'),"
        " reverse('peers-hand', args=['8613900000001']), reverse('bench-trivial'))\n"
        "import benchmarks.peers.bench, benchmarks.peers.client, benchmarks.peers.report\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.peers.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == [
        "/allauth/phone/verify/",
        "/allauth/phone/change/",
        "/peers/hand/8613900000001/",
        "/bench/trivial/",
    ]


def test_the_section_is_in_the_registry() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "peers" in done.stdout
