"""Date formats where Django's do not fit our sentences (FORMAT_MODULE_PATH)."""
