"""Date formats where Django's do not fit our pages (FORMAT_MODULE_PATH)."""
