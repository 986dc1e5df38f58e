"""The WSGI application, for `inviteonly serve` or any WSGI server (gunicorn, uWSGI)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from inviteonly.lib.heap import freeze_startup_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inviteonly.settings")

application = get_wsgi_application()
freeze_startup_objects()
