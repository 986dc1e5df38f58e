"""Reading invitations."""

from __future__ import annotations

from django.db.models import F, QuerySet
from django.utils.translation import gettext_lazy as _

from inviteonly.accounts.models import Member
from inviteonly.invitations.actions import join_token_digest
from inviteonly.invitations.models import Invitation, InvitationState
from inviteonly.lib import clock
from inviteonly.lib.errors import ActionError
from inviteonly.lib.queries import columns_of, fetch_model
from inviteonly.site_config.models import REGISTRATION_MODE_COLUMN

# Read on every look at a join link and every start of a join (see lib/queries.py),
# with the registration mode a join checks (accounts/actions.py, do_start_join).
_INVITATION_BY_TOKEN_SQL = (
    f"SELECT {columns_of(Invitation, 'i')}, {columns_of(Member, 'm')}, "  # noqa: S608
    f"{REGISTRATION_MODE_COLUMN} "
    "FROM invitations_invitation i LEFT JOIN accounts_member m ON m.id = i.inviter_id "
    "WHERE i.token_digest = %s"
)


def access_invitation_by_token(token: str) -> Invitation:
    """The pending invitation behind a join link, or a refusal that says what is wrong."""
    invitation = fetch_model(
        Invitation, _INVITATION_BY_TOKEN_SQL, [join_token_digest(token or "")],
        related=["inviter"], extra=["registration_mode"],
    )
    if invitation is None:
        raise ActionError(
            "invitation_unknown",
            _("This invitation link is not valid. Check that you opened the whole link "
              "from the SMS."),
            status=404,
        )
    check_bootstrap_invitation(invitation)
    state = invitation.state_at(clock.now())
    if state == InvitationState.REDEEMED:
        raise ActionError(
            "invitation_used",
            _("This invitation has already been used. If it was you, log in."),
            status=410,
        )
    if state == InvitationState.EXPIRED:
        raise ActionError(
            "invitation_expired",
            _("This invitation has expired. Ask the person who invited you for a new one."),
            status=410,
        )
    if state == InvitationState.REVOKED:
        raise ActionError(
            "invitation_revoked",
            _("This invitation was withdrawn by the person who sent it."),
            status=410,
        )
    check_inviter_in_good_standing(invitation)
    return invitation


def check_inviter_in_good_standing(invitation: Invitation) -> None:
    """While its inviter is quarantined an invitation waits: nobody joins through it
    until a moderator ends the quarantine. A ban revokes it for good; nobody joins under
    a banned inviter even where it did not (a status set in the admin of old)."""
    inviter = invitation.inviter
    if inviter is not None and inviter.status == Member.Status.BANNED:
        raise ActionError(
            "invitation_revoked",
            _("This invitation is no longer valid. Ask someone else to invite you."),
            status=410,
        )
    if inviter is not None and inviter.status == Member.Status.QUARANTINED:
        raise ActionError(
            "invitation_on_hold",
            _("This invitation cannot be used at the moment. Try again later, or ask the "
              "person who invited you."),
            status=403,
        )


def check_bootstrap_invitation(invitation: Invitation) -> None:
    """A bootstrap founder link is dead once the site has its first member."""
    if invitation.is_bootstrap and Member.objects.exists():
        raise ActionError(
            "invitation_revoked",
            _("This founder link is no longer valid: the site already has members."),
            status=410,
        )


def invitations_sent_by(member: Member) -> QuerySet[Invitation]:
    # Newest first by id, paged with ?before=<id> (social.queries.before): relies on
    # the index invitation_inviter_recent.
    return (
        Invitation.objects.filter(inviter=member)
        .annotate(sms_status=F("sms__status"))
        .order_by("-id")
    )
