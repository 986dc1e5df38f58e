"""The accounts app; records a login's time in one prebuilt UPDATE."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "inviteonly.accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.contrib.auth.models import update_last_login
        from django.contrib.auth.signals import user_logged_in

        from inviteonly.accounts.actions import record_last_login

        # Django's receiver saves the member (save(update_fields=…)): the ORM's whole
        # save path for one column, on every login and every join.
        user_logged_in.disconnect(update_last_login, dispatch_uid="update_last_login")
        user_logged_in.connect(record_last_login, dispatch_uid="record_last_login")
