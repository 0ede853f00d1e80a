"""Inline masking, sans-IO: mask methods, the per-statement plan built from output-column
lineage, the DataRow / COPY rewriters, and error and notice redaction (docs/masking.md).

Nothing here touches a socket: the proxy hands in message bodies and writes what comes
back.
"""
