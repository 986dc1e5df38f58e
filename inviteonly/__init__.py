"""inviteonly: an invite-only social network; every account is tied to a verified mobile."""
