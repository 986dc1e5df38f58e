"""The `inviteonly` command: Django's management commands, with the project's own
(`serve`, `worker`, `founder`, `registration_mode`, `rotate_phone_keys`, `sweep`,
`sms_report`) among them.

    inviteonly serve            # the site, with one SMS delivery worker inside
    inviteonly worker           # a separate SMS delivery worker (run several)
    inviteonly founder          # print a founder invitation link
    inviteonly registration_mode [MODE]   # show or switch the registration mode
    inviteonly rotate_phone_keys          # re-encrypt under the newest key
    inviteonly sweep            # delete what has outlived its use (workers do it hourly)
    inviteonly sms_report       # SMS per country and gateway
    inviteonly migrate / check / shell / …   # any Django management command

Messages are in English only (pages, SMS and API answers are translated).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inviteonly.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        # Reads the environment: a value settings.py cannot use stops here, in one line
        # naming the variable, rather than in a traceback.
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as error:
        sys.exit(f"inviteonly: {error}")
    execute_from_command_line(["inviteonly", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
