"""Onboard WhatsApp business numbers through NXCloud's integrator embedded-register API."""

__version__ = "0.1.0"
