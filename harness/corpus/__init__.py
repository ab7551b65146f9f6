"""harness.corpus."""
