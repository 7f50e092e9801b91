"""Contract tests: one suite for every implementation of an interface."""
