"""NXCloud's callbacks to a customer application's webhook URL (like django-anymail's ``webhooks``).

``signature`` checks NXCloud's sign over the raw body; ``events`` reads what a body says (no
models); ``receive`` stores and applies it once; ``views`` is the one view; ``urls`` mounts it.
Signals: ``nxwa_onboarding.signals.account_updated``, ``quality_updated``, ``display_name_decided``.
"""
