"""The moderation app; its name as the admin shows it."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ModerationConfig(AppConfig):
    name = "inviteonly.moderation"
    verbose_name = _("Moderation")
