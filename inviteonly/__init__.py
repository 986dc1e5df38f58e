"""inviteonly: an invite-only social network where every account is tied to a verified mobile number."""
