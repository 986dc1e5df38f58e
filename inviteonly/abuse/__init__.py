"""Abuse budgets: named rate limits with counters shared by every process."""
