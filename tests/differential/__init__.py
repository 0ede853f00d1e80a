"""Helpers of the differential test (tests/proxy/test_differential.py): generated
session scripts, PostgreSQL's own log of what it executed, the gateway's recordings of
what it decided, and the comparison of the two."""
