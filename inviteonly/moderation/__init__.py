"""Sanctions on single members (warn, quarantine, ban, invite suspension) and the
strikes an inviter collects when their invitees are banned for spam."""
