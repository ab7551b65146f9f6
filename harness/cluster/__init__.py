"""harness.cluster."""
