"""The `inviteonly` command: Django's management commands, with the project's own
(`serve`, `worker`, `founder`, `registration_mode`) among them.

    inviteonly serve            # the site, with one SMS delivery worker inside
    inviteonly worker           # a separate SMS delivery worker (run several)
    inviteonly founder          # print a founder invitation link
    inviteonly migrate / check / shell / …   # any Django management command
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inviteonly.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["inviteonly", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
