"""Erasures and purge runs: the record that personal data was forgotten, read-only for everyone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin

from ..models import Erasure, PurgeRun
from .audit import ReadOnlyMixin

if TYPE_CHECKING:
    ErasureAdminBase = admin.ModelAdmin[Erasure]
    PurgeRunAdminBase = admin.ModelAdmin[PurgeRun]
else:
    ErasureAdminBase = PurgeRunAdminBase = admin.ModelAdmin


class ErasureAdmin(ReadOnlyMixin, ErasureAdminBase):
    list_display = ["performed_at", "subject_id", "via", "performed_by", "registrations", "rows"]
    list_filter = ["via"]
    search_fields = ["subject_id"]
    readonly_fields = [
        "subject_id",
        "subject_digest",
        "performed_by",
        "performed_at",
        "via",
        "registrations",
        "rows",
    ]


class PurgeRunAdmin(ReadOnlyMixin, PurgeRunAdminBase):
    list_display = ["started_at", "finished_at", "summary"]
    readonly_fields = ["started_at", "finished_at", "summary"]
