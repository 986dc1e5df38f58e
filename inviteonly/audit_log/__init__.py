"""Who did what to whom, when, from where — never a code, a token or a full number."""
