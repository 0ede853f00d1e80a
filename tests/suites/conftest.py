"""Show the suites' times and gateway/direct ratios at the end of the pytest run."""

from __future__ import annotations

import json

import pytest

from tests.suites.pg_suites import TIMING_FILE

_STARTED: list[float] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _STARTED.append(TIMING_FILE.stat().st_mtime if TIMING_FILE.exists() else 0.0)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TIMING_FILE.exists() or (_STARTED and TIMING_FILE.stat().st_mtime <= _STARTED[0]):
        return  # no suite ran in this session
    data = json.loads(TIMING_FILE.read_text())
    terminalreporter.section("PostgreSQL's own suites through regogate")
    for suite, entry in data.get("suites", {}).items():
        parts = []
        for mode in ("direct", "gateway"):
            if mode in entry:
                run = entry[mode]
                parts.append(f"{mode} {run['seconds']} s ({run['passed']}/{run['tests']} passed)")
        if "ratio" in entry:
            parts.append(f"ratio {entry['ratio']} (goal <= 3)")
        terminalreporter.write_line(f"{suite}: " + ", ".join(parts))
    terminalreporter.write_line(f"(numbers, not assertions: {TIMING_FILE})")
