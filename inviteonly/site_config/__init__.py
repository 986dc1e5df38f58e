"""Site-wide settings an administrator changes at run time (the registration mode)."""
