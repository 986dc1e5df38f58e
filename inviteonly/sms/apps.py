"""The SMS app; its name as the admin shows it."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SmsConfig(AppConfig):
    name = "inviteonly.sms"
    verbose_name = _("SMS")
