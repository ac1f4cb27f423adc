"""Handoff: cross-department handoffs in Slack that close the loop on understanding."""

__version__ = "0.1.0"
