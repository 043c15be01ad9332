"""Operations: Prometheus metrics read from the database, a health report, OpenTelemetry spans.

Mount ``path("nxwa/ops/", include("nxwa_onboarding.ops.urls"))`` for ``metrics/`` and
``health/`` (staff, or the ``OPS_TOKEN`` bearer token). A host that already serves ``/metrics``
registers ``nxwa_onboarding.ops.metrics.OnboardingCollector`` in its own registry instead.
"""
