"""Every request is listed, whatever its number (invitation_requests/actions.py): the
unique "one listed request per number" goes, and requests left out of the list so far
for their number (a member's, or one with a request waiting) join it while open.

First, requests granted before a revocation put the request back
(withdrawal.put_requests_back), whose invitation was then revoked unredeemed, are
reopened as that does: they were left "granted", off the list for good, with a dead
link."""

from typing import Any

from django.db import migrations
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone


def reopen_revoked_grants(apps: Any, schema_editor: Any) -> None:
    invitations = apps.get_model("invitations", "Invitation").objects
    requests = apps.get_model("invitation_requests", "InvitationRequest").objects
    requests.filter(
        # Revoked while it was valid: one that had expired first (a branch ban revokes
        # those too) leaves its request as expiry does.
        invitation__revoked_at__lt=F("invitation__expires_at"),
        invitation__redeemed_at__isnull=True,
    ).update(
        invitation_withdrawn_at=Subquery(
            invitations.filter(id=OuterRef("invitation_id")).values("revoked_at")[:1]
        ),
        granted_by=None,
        granted_at=None,
        invitation=None,
    )


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
        migrations.RunPython(reopen_revoked_grants, migrations.RunPython.noop),
        migrations.RunPython(list_open_requests, migrations.RunPython.noop),
    ]
