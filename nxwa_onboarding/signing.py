"""Moved to ``nxwa_onboarding.nxcloud.signing``; this documented path re-exports it for host
projects."""

from __future__ import annotations

from .nxcloud.signing import SignDigest, compute_sign, verify_sign

__all__ = ["SignDigest", "compute_sign", "verify_sign"]
