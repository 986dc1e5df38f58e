"""Proving possession of a mobile number with a code sent by SMS."""
