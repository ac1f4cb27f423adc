"""Durable Slack writes: notices are stored with the state change and delivered by a worker."""
