"""On PostgreSQL the rate-limit counters live in an UNLOGGED table.

Its writes make no WAL, so a transaction that only counts commits without waiting for
the disk (PostgreSQL skips the flush when a transaction wrote no WAL) — what
``SET LOCAL synchronous_commit TO OFF`` did, one round trip cheaper. The price: after
a crash (not a clean restart) the table starts empty, and standbys do not have it —
counters are worth no fsync, and Redis, where configured, keeps them in memory only.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def _set_persistence(
    persistence: str,
) -> Callable[[StateApps, BaseDatabaseSchemaEditor], None]:
    def run(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE abuse_ratelimitcounter SET {persistence}")

    return run


class Migration(migrations.Migration):
    dependencies = [("abuse", "0002_loginthrottle")]

    operations = [
        migrations.RunPython(_set_persistence("UNLOGGED"), _set_persistence("LOGGED")),
    ]
