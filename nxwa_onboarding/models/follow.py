"""The follower's own state: one row per application being followed (see ``services.follow``)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class FollowState(models.Model):
    """One application's following chain: who holds it now (a lease), when it steps next.

    Keyed by the application's app key (``conf.APP_KEY`` in a single-application installation),
    so two workers never follow one application at the same moment (``lease_until``) and there
    is one chain per application (``chain``: a task carrying another token stops).
    """

    app_key = models.CharField(_("app key"), max_length=128, unique=True)
    chain = models.CharField(_("chain"), max_length=32, blank=True)
    next_step_at = models.DateTimeField(_("next step at"), null=True, blank=True)
    lease_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    interval = models.FloatField(_("current interval (s)"), default=0)
    last_step_at = models.DateTimeField(_("last step at"), null=True, blank=True)
    steps = models.PositiveIntegerField(_("steps"), default=0)
    last_error = models.CharField(_("last error"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("follow state")
        verbose_name_plural = _("follow states")

    def __str__(self) -> str:
        return self.app_key
