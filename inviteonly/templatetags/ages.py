"""How long ago something happened, as every page writes it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from inviteonly.lib import clock

register = template.Library()


@register.filter
def ago(moment: datetime) -> str:
    """"just now" below a minute (``timesince`` would say "0 minutes"), else "5 minutes
    ago"; measured on the site's clock (``lib.clock``), not ``timezone.now``."""
    now = clock.now()
    if now - moment < timedelta(minutes=1):
        return _("just now")
    return _("%(age)s ago") % {"age": timesince(moment, now)}
