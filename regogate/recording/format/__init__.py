"""The record format: canonical JSON, records, Merkle, signed notes, checkpoints, proofs.

Pure, shared by both sides; imports neither ``write`` nor ``read``.
"""
