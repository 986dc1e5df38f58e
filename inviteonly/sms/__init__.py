"""Outgoing SMS: the outbox every action writes to, the delivery worker, the gateways."""
