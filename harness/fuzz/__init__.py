"""harness.fuzz.driver."""
