"""Validation: expectation suites, GX runs and quarantine of failing rows."""
