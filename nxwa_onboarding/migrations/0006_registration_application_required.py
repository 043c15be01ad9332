"""Every registration belongs to an application (0005 gave the existing ones the default).

The database only learns NOT NULL: the field's default (a callable that makes the default
application) stays in Python, so migrating never runs today's model code against an older schema.
"""

import django.db.models.deletion
from django.db import migrations, models

import nxwa_onboarding.models.applications


def required(**extra):
    return models.ForeignKey(
        on_delete=django.db.models.deletion.PROTECT,
        related_name="registrations",
        to="nxwa_onboarding.application",
        verbose_name="application",
        **extra,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("nxwa_onboarding", "0005_applications_and_webhooks"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterField(model_name="phoneregistration", name="application", field=required()),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="phoneregistration",
                    name="application",
                    field=required(default=nxwa_onboarding.models.applications.default_application_id),
                ),
            ],
        ),
    ]
