"""Weekly digests for managers: SQL aggregation, the figures, and sending each one exactly once."""
