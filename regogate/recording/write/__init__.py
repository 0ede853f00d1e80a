"""The write side: hot path, writer, backend, store, keys and commitments."""
