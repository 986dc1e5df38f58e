"""Bases for our admin pages: every change to what they show goes through an action
that writes the audit entry, so the admin adds and deletes nothing itself."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest


class EstimatedCountPaginator(Paginator):
    """Django's paginator, except that a whole table of at least
    ``ADMIN_COUNT_ESTIMATED_FROM`` rows on PostgreSQL is counted by its statistics
    (``pg_class.reltuples``, kept by autovacuum's ANALYZE) instead of a ``COUNT(*)``
    that reads all of it on every page view: the audit log grows by every login. A
    filtered list, a smaller table and SQLite are counted exactly; ``estimated`` tells
    the page (templates/admin/pagination.html) to say "about"."""

    estimated = False
    # The pages an estimate promised before the table was counted exactly.
    _promised_pages = 0

    @cached_property
    def count(self) -> int:
        estimate = self._estimated_count()
        if estimate is not None and estimate >= settings.ADMIN_COUNT_ESTIMATED_FROM:
            self.estimated = True
            return estimate
        return super().count

    def validate_number(self, number: Any) -> int:
        """Django's, but the estimate's last page and any page past it are counted
        exactly: the statistics lag behind the table (ANALYZE runs after a tenth of it
        changed), and a page by the estimate alone would end at the estimate (the last
        one cut short, those past it refused), out of reach of the oldest rows. A page
        the estimate promised (its links lead there) that the table does not reach is
        its last page (also to the admin's page links, which validate it again)."""
        try:
            wanted = int(number)
        except (TypeError, ValueError):
            wanted = 0  # Django's refusal, below
        if self.count and self.estimated and wanted >= self.num_pages:
            self._promised_pages = self.num_pages
            self.estimated = False
            self.__dict__["count"] = super().count  # a QuerySet: its COUNT(*)
            self.__dict__.pop("num_pages", None)
            self.__dict__.pop("page_range", None)
        if self.num_pages < wanted <= self._promised_pages:
            return self.num_pages
        return super().validate_number(number)

    def _estimated_count(self) -> int | None:
        rows = self.object_list
        if not isinstance(rows, QuerySet) or rows.query.where or rows.query.distinct:
            return None
        connection = connections[rows.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            # -1: never analysed.
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                [connection.ops.quote_name(rows.model._meta.db_table)],
            )
            row = cursor.fetchone()
        return int(row[0]) if row is not None and row[0] >= 0 else None


class ReadOnlyAdmin(admin.ModelAdmin):
    """Look, never touch: the rows change only through the site's actions."""

    paginator = EstimatedCountPaginator
    # A filtered list counts what it found, not the whole table again for "(N total)".
    show_full_result_count = False

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
