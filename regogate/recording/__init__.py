"""Tamper-evident recordings: canonical records, session hash chains, one RFC 6962 log.

Three parts, by role (tests/recording/test_layering.py holds them apart):

- ``format``: what a recording is (canonical JSON, records, Merkle, signed notes,
  checkpoints, proofs, the directory layout); imports neither side.
- ``write``: the gateway's side (hot path, writer, backend, store, keys, commitments).
- ``read``: the examiner's side (verify, sessions, replay, the evidence report); it never
  imports the write side.

The format is specified in docs/recording-format.md.
"""
