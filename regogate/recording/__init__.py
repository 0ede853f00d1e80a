"""Tamper-evident recordings: canonical records, session hash chains, one RFC 6962 log.

Pure core (bytes in, values out): ``jcs``, ``merkle``, ``note``, ``checkpoint``,
``records``, ``layout``, ``chain``, ``findings``, ``proof``. Edges: ``store`` (files),
``keys`` (key files), ``writer`` (the anyio ``Recorder``), ``verify`` (offline verifier).
The format is specified in docs/recording-format.md.
"""
