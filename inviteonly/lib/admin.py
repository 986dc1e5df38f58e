"""Bases for our admin pages: every change to what they show goes through an action
that writes the audit entry, so the admin adds and deletes nothing itself."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    """Look, never touch: the rows change only through the site's actions."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AdministratorsChangeAdmin(ReadOnlyAdmin):
    """Operators (``Member.is_operator``) may change a row (its ``save_model`` calls
    the audited action), as the actions allow only them to; nobody adds or deletes one."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(getattr(request.user, "is_operator", False))
