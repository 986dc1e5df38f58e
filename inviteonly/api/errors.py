"""Turning pydantic's English validation errors into one translated sentence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def validation_error_detail(errors: Sequence[Any]) -> tuple[str | None, str]:
    """The first error's field and a translated explanation of it."""
    if not errors:
        return None, _("The request is malformed.")
    error = errors[0]
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload")]
    field = location[-1] if location else None
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    if kind == "missing":
        message = _("This field is required.")
    elif kind == "string_too_long":
        limit = int(context.get("max_length", 0))
        message = ngettext(
            "This value is too long: at most %(limit)d character.",
            "This value is too long: at most %(limit)d characters.",
            limit,
        ) % {"limit": limit}
    elif kind == "string_too_short":
        limit = int(context.get("min_length", 0))
        message = ngettext(
            "This value is too short: at least %(limit)d character.",
            "This value is too short: at least %(limit)d characters.",
            limit,
        ) % {"limit": limit}
    elif kind in ("string_type", "int_type", "int_parsing", "bool_type", "model_type",
                  "dict_type", "model_attributes_type"):
        message = _("This value has the wrong type.")
    elif kind in ("literal_error", "enum"):
        message = _("This value is not one of the allowed choices.")
    elif kind == "greater_than_equal":
        message = _("This value is too small: at least %(limit)s.") % {"limit": context.get("ge")}
    elif kind == "less_than_equal":
        message = _("This value is too large: at most %(limit)s.") % {"limit": context.get("le")}
    elif kind == "greater_than":
        message = _("This value is too small: it must be greater than %(limit)s.") % {
            "limit": context.get("gt")
        }
    elif kind == "less_than":
        message = _("This value is too large: it must be less than %(limit)s.") % {
            "limit": context.get("lt")
        }
    else:
        message = _("This value is invalid.")
    if field:
        return field, _("%(field)s: %(message)s") % {"field": field, "message": message}
    return None, message
