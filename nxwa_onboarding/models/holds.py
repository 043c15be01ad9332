"""Holds on calling NXCloud: a scope whose failed calls spent their budget, or everyone (the
breaker). See ``services.breaker``."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

#: The scope of the breaker: every call of the installation.
EVERYONE = "*"


class CallHold(models.Model):
    """No call to NXCloud is made for ``scope`` until ``until``.

    ``scope`` is ``*`` (everyone: the breaker, tripped by configuration failures), or
    ``registration:<pk>``, ``block:<address block>``, ``owner:<pk>`` (their failed calls spent
    MAX_FAILED_CALLS_PER_HOUR). One row per scope, extended in place; a hold whose ``until``
    has passed holds nothing.
    """

    scope = models.CharField(_("scope"), max_length=80, unique=True)
    until = models.DateTimeField(_("until"))
    failures = models.PositiveIntegerField(_("failures counted"), default=0)
    started_at = models.DateTimeField(_("started at"))

    class Meta:
        verbose_name = _("call hold")
        verbose_name_plural = _("call holds")

    def __str__(self) -> str:
        return f"{self.scope} until {self.until:%Y-%m-%d %H:%M}"
