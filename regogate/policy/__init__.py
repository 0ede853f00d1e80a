"""Policy: statement facts (catalog, facts, sqltext), the OPA client and sidecar, the
decision model and caches. Import submodules directly; this package imports nothing."""
