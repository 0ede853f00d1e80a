"""Tamper-evident session recordings (groundwork: RFC 6962 Merkle log primitives)."""
