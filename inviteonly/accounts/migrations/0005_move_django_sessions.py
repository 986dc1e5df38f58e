"""Sessions of an installation that ran Django's own session table move into
accounts_member_session (0004), so upgrading logs nobody out; the old table goes.

Their keys were already stored as HMACs (accounts/sessions.py), so rows move as they
are; the member each is logged in as is read from its signed data.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import SESSION_KEY
from django.db import migrations


def move_sessions(apps: Any, schema_editor: Any) -> None:
    from inviteonly.accounts.sessions import SessionStore

    connection = schema_editor.connection
    if "django_session" not in connection.introspection.table_names():
        return  # a new installation, or already moved
    member_ids = set(apps.get_model("accounts", "Member").objects.values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_key, session_data, expire_date FROM django_session")
        rows = cursor.fetchall()
        decoder = SessionStore()
        for session_key, session_data, expire_date in rows:
            member_id = decoder.decode(session_data).get(SESSION_KEY)
            member = int(member_id) if member_id is not None else None
            cursor.execute(
                "INSERT INTO accounts_member_session "
                "(session_key, session_data, expire_date, member_id) VALUES (%s, %s, %s, %s)",
                [session_key, session_data, expire_date,
                 member if member in member_ids else None],
            )
    schema_editor.execute("DROP TABLE django_session")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_member_session")]

    operations = [migrations.RunPython(move_sessions, migrations.RunPython.noop)]
