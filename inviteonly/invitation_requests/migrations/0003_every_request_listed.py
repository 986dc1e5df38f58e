"""Every request is listed, whatever its number (invitation_requests/actions.py): the
unique "one listed request per number" goes, and requests left out of the list so far
for their number (a member's, or one with a request waiting) join it while open."""

from typing import Any

from django.db import migrations
from django.utils import timezone


def list_open_requests(apps: Any, schema_editor: Any) -> None:
    requests = apps.get_model("invitation_requests", "InvitationRequest").objects
    requests.filter(
        listed=False, granted_at__isnull=True, expires_at__gt=timezone.now()
    ).update(listed=True)


class Migration(migrations.Migration):

    dependencies = [
        ("invitation_requests", "0002_invitationrequest_invitation_withdrawn_at"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="invitationrequest",
            name="one_listed_request_per_number",
        ),
        migrations.RunPython(list_open_requests, migrations.RunPython.noop),
    ]
