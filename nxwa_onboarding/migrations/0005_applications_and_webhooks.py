"""Customer applications and webhook deliveries; registrations belong to an application.

Existing registrations are moved onto the installation's default application (its app key is
NXWA_ONBOARDING['APP_KEY'], read when used, so nothing of the setting is copied here). On a new
installation the default application is made when first needed instead.
"""

import django.db.models.deletion
import nxwa_onboarding.models.applications
from django.conf import settings
from django.db import migrations, models


def existing_rows_onto_the_default_application(apps, schema_editor):
    registration = apps.get_model("nxwa_onboarding", "PhoneRegistration")
    application = apps.get_model("nxwa_onboarding", "Application")
    alias = schema_editor.connection.alias
    if not registration.objects.using(alias).exists():
        return
    default = application.objects.using(alias).create(
        name="Default application", is_default=True, outcome="default"
    )
    registration.objects.using(alias).update(application=default)


class Migration(migrations.Migration):
    dependencies = [
        ("nxwa_onboarding", "0004_limits_closing_and_address_blocks"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="phoneregistration",
            name="account_event",
            field=models.CharField(blank=True, max_length=64, verbose_name="last account event"),
        ),
        migrations.AddField(
            model_name="phoneregistration",
            name="account_event_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="account event at"),
        ),
        migrations.AddField(
            model_name="phoneregistration",
            name="account_state",
            field=models.CharField(
                blank=True,
                choices=[
                    ("active", "Active"),
                    ("warned", "Policy violation"),
                    ("restricted", "Restricted"),
                    ("ban_scheduled", "Ban scheduled"),
                    ("banned", "Banned"),
                    ("deleted", "Deleted"),
                ],
                db_index=True,
                max_length=20,
                verbose_name="account state",
            ),
        ),
        migrations.AddField(
            model_name="phoneregistration",
            name="last_event_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="last webhook event at"),
        ),
        migrations.AddField(
            model_name="phoneregistration",
            name="messaging_limit",
            field=models.CharField(blank=True, max_length=32, verbose_name="messaging limit"),
        ),
        migrations.AddField(
            model_name="phoneregistration",
            name="name_decision",
            field=models.CharField(blank=True, max_length=20, verbose_name="display name decision"),
        ),
        migrations.AddField(
            model_name="phoneregistration",
            name="name_rejection_reason",
            field=models.CharField(blank=True, max_length=255, verbose_name="why the name was rejected"),
        ),
        migrations.AddField(
            model_name="phoneregistration",
            name="quality_event",
            field=models.CharField(blank=True, max_length=64, verbose_name="last quality event"),
        ),
        migrations.AddField(
            model_name="phoneregistration",
            name="requested_name",
            field=models.CharField(blank=True, max_length=255, verbose_name="requested display name"),
        ),
        migrations.CreateModel(
            name="Application",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                ("app_id", models.CharField(blank=True, max_length=64, verbose_name="NXCloud app id")),
                (
                    "app_key",
                    models.CharField(
                        blank=True,
                        help_text="Blank for the default application: it uses NXWA_ONBOARDING['APP_KEY'].",
                        max_length=128,
                        verbose_name="app key",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                (
                    "webhook_token",
                    models.CharField(
                        default=nxwa_onboarding.models.applications.new_webhook_token,
                        editable=False,
                        max_length=64,
                        unique=True,
                        verbose_name="webhook token",
                    ),
                ),
                (
                    "signs_callbacks",
                    models.BooleanField(
                        default=False,
                        help_text="Turn on when callback signing is on for this application at NXCloud: unsigned or badly signed callbacks are then refused. Off, the webhook URL's token is the only key.",
                        verbose_name="NXCloud signs its callbacks",
                    ),
                ),
                (
                    "is_default",
                    models.BooleanField(default=False, editable=False, verbose_name="default application"),
                ),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("created", "Created at NXCloud"),
                            ("added", "Added by its app key"),
                            ("default", "The installation's default (APP_KEY)"),
                            ("rejected", "Rejected by NXCloud"),
                            ("failed", "Failed"),
                            ("unknown", "Unknown"),
                        ],
                        default="pending",
                        editable=False,
                        max_length=10,
                        verbose_name="outcome",
                    ),
                ),
                (
                    "failure",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("configuration", "Our configuration"),
                            ("unreachable", "NXCloud unreachable"),
                            ("maybe_sent", "May have reached NXCloud"),
                        ],
                        editable=False,
                        max_length=20,
                        verbose_name="failure",
                    ),
                ),
                (
                    "result_code",
                    models.IntegerField(
                        blank=True, editable=False, null=True, verbose_name="NXCloud result code"
                    ),
                ),
                (
                    "result_message",
                    models.CharField(
                        blank=True, editable=False, max_length=500, verbose_name="NXCloud message"
                    ),
                ),
                (
                    "finished_at",
                    models.DateTimeField(blank=True, editable=False, null=True, verbose_name="finished at"),
                ),
                (
                    "last_synced_at",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="last synced at"
                    ),
                ),
                (
                    "message_events",
                    models.PositiveBigIntegerField(
                        default=0,
                        editable=False,
                        help_text="Message statuses and inbound messages: acknowledged and counted, not stored.",
                        verbose_name="message events received",
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="created by",
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="nxwa_applications",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="customer",
                    ),
                ),
            ],
            options={
                "verbose_name": "customer application",
                "verbose_name_plural": "customer applications",
                "ordering": ["name", "pk"],
            },
        ),
        migrations.AddField(
            model_name="phoneregistration",
            name="application",
            # Nullable for one step: the rows that exist are given the default application
            # below, and 0006 makes the column required.
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="registrations",
                to="nxwa_onboarding.application",
                verbose_name="application",
            ),
        ),
        migrations.RunPython(existing_rows_onto_the_default_application, migrations.RunPython.noop),
        migrations.CreateModel(
            name="WebhookDelivery",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "received_at",
                    models.DateTimeField(auto_now_add=True, db_index=True, verbose_name="received at"),
                ),
                (
                    "kind",
                    models.CharField(
                        blank=True, help_text="The envelope's field.", max_length=64, verbose_name="kind"
                    ),
                ),
                ("event", models.CharField(blank=True, max_length=64, verbose_name="event")),
                (
                    "phone_number",
                    models.CharField(blank=True, db_index=True, max_length=20, verbose_name="phone number"),
                ),
                ("payload", models.TextField(blank=True, verbose_name="payload")),
                ("payload_truncated", models.BooleanField(default=False, verbose_name="payload cut")),
                ("body_bytes", models.PositiveIntegerField(default=0, verbose_name="body size (bytes)")),
                ("signed", models.BooleanField(default=False, verbose_name="signature verified")),
                ("dedupe_key", models.CharField(editable=False, max_length=64, verbose_name="event digest")),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("applied", "Applied"),
                            ("unmatched", "No registration of this application has the number"),
                            ("stale", "Older than what is already shown"),
                            ("ignored", "Not an event onboarding applies"),
                            ("unparseable", "Could not be read"),
                        ],
                        db_index=True,
                        max_length=12,
                        verbose_name="outcome",
                    ),
                ),
                ("detail", models.CharField(blank=True, max_length=255, verbose_name="detail")),
                (
                    "application",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="deliveries",
                        to="nxwa_onboarding.application",
                        verbose_name="application",
                    ),
                ),
                (
                    "registration",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="webhook_deliveries",
                        to="nxwa_onboarding.phoneregistration",
                        verbose_name="registration",
                    ),
                ),
            ],
            options={
                "verbose_name": "webhook delivery",
                "verbose_name_plural": "webhook deliveries",
                "ordering": ["-received_at", "-id"],
            },
        ),
        migrations.AddConstraint(
            model_name="application",
            constraint=models.UniqueConstraint(
                condition=models.Q(("app_key", ""), _negated=True),
                fields=("app_key",),
                name="nxwa_application_unique_app_key",
            ),
        ),
        migrations.AddConstraint(
            model_name="application",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_default", True)),
                fields=("is_default",),
                name="nxwa_one_default_application",
            ),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(fields=["registration", "-received_at"], name="nxwa_delivery_reg_idx"),
        ),
        migrations.AddConstraint(
            model_name="webhookdelivery",
            constraint=models.UniqueConstraint(
                fields=("application", "dedupe_key"), name="nxwa_delivery_once"
            ),
        ),
    ]
