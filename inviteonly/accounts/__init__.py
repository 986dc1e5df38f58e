"""Members: the account model, login and logout, sessions, password recovery."""
