"""Query expressions Django lacks."""

from __future__ import annotations

from typing import Any

from django.db.models import IntegerField, Subquery


class SubqueryCount(Subquery):
    """``(SELECT count(*) FROM (<queryset>))`` as a column: counts rows related to the
    outer row inside the outer query, instead of one more query per count."""

    template = "(SELECT count(*) FROM (%(subquery)s) AS counted)"
    output_field = IntegerField()

    def __init__(self, queryset: Any, **extra: Any) -> None:
        super().__init__(queryset, output_field=IntegerField(), **extra)
