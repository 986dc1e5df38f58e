"""In-app notices to members ("your invitee joined", "your password was changed")."""
