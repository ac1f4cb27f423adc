"""Handoffs: the lifecycle from sent to rated, and everything said along the way."""
