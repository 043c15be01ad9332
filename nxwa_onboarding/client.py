"""Moved to ``nxwa_onboarding.nxcloud.client`` (the NXCloud client's parts live in
``nxwa_onboarding.nxcloud``); this documented path re-exports it for host projects."""

from __future__ import annotations

from .nxcloud.client import NXCloudClient, NXCloudResponse

__all__ = ["NXCloudClient", "NXCloudResponse"]
