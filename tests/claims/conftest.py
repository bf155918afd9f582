"""Claim tests assert on the results.json of smoke runs: ``smoke("04", order=3)`` (defined in
tests/conftest.py) executes a chapter once per suite per parameter set and returns its record."""
