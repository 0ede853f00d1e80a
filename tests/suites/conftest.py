"""Show the suites' times and gateway/direct ratios at the end of the pytest run."""

from __future__ import annotations

import json
import time

import pytest

from tests.suites.pg_suites import TIMING_FILE

# Loaded at collection, before any test runs: a timing file older than this is stale.
_LOADED = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TIMING_FILE.exists() or TIMING_FILE.stat().st_mtime <= _LOADED:
        return  # no suite ran in this session
    data = json.loads(TIMING_FILE.read_text())
    terminalreporter.section("PostgreSQL's own suites through regogate")
    for suite, entry in data.get("suites", {}).items():
        parts = []
        for mode in ("direct", "gateway"):
            if mode in entry:
                run = entry[mode]
                cpu = run.get("cpu_seconds") or {}
                used = "".join(f", {k} {v} s CPU" for k, v in sorted(cpu.items()))
                parts.append(
                    f"{mode} {run['seconds']} s ({run['passed']}/{run['tests']} passed{used})"
                )
        if "ratio" in entry:
            parts.append(f"ratio {entry['ratio']} (goal <= 3)")
        terminalreporter.write_line(f"{suite}: " + ", ".join(parts))
    terminalreporter.write_line(f"(numbers, not assertions: {TIMING_FILE})")
