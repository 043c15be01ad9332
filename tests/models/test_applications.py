"""0005/0006: registrations that existed before applications move onto the default application."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("nxwa_onboarding", "0004_limits_closing_and_address_blocks")]
AFTER = [("nxwa_onboarding", "0006_registration_application_required")]


def migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


def test_existing_registrations_move_onto_the_default_application() -> None:
    old_apps = migrate(BEFORE).loader.project_state(BEFORE).apps
    registration = old_apps.get_model("nxwa_onboarding", "PhoneRegistration")
    registration.objects.create(phone_number="8613800138000", status="verified")
    registration.objects.create(phone_number="8613900139000", status="failed")
    try:
        new_apps = migrate(AFTER).loader.project_state(AFTER).apps
        migrated = new_apps.get_model("nxwa_onboarding", "PhoneRegistration")
        application = new_apps.get_model("nxwa_onboarding", "Application")
        (default,) = application.objects.all()
        assert (default.is_default, default.outcome, default.app_key) == (True, "default", "")
        assert set(migrated.objects.values_list("application_id", flat=True)) == {default.pk}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
