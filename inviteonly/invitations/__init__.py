"""Invitations by mobile number: who may invite, the join links, the invitation tree."""
