"""[policy] max_statement_bytes and analysis_timeout: defaults, values, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from regogate.config import parse_config
from regogate.errors import ConfigError
from tests.test_config import BASE, ENV

ROOT = Path(__file__).parents[1]


def test_defaults() -> None:
    policy = parse_config(BASE, env=ENV, base=ROOT).policy
    assert (policy.max_statement_bytes, policy.analysis_timeout) == (1024 * 1024, 2.0)


def test_values() -> None:
    text = "[policy]\nmax_statement_bytes = 65536\nanalysis_timeout = 0.5\n" + BASE
    policy = parse_config(text, env=ENV, base=ROOT).policy
    assert (policy.max_statement_bytes, policy.analysis_timeout) == (65536, 0.5)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("max_statement_bytes = 0", "policy.max_statement_bytes: must be positive"),
        ("max_statement_bytes = 100", "policy.max_statement_bytes: must be at least 1024"),
        ("max_statement_bytes = '1M'", "policy.max_statement_bytes: must be int"),
        ("analysis_timeout = 0", "policy.analysis_timeout: must be between 0 and 60"),
        ("analysis_timeout = 61", "policy.analysis_timeout: must be between 0 and 60"),
    ],
)
def test_errors(section: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(f"[policy]\n{section}\n" + BASE, env=ENV, base=ROOT)
