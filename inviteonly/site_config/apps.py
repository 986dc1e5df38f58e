"""The site configuration app; its name as the admin shows it."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SiteConfigConfig(AppConfig):
    name = "inviteonly.site_config"
    verbose_name = _("Site configuration")
