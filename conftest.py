"""Registers the pss-harness pytest plugin for runs from the repository root."""

pytest_plugins = ["harness.plugin"]
