"""Hypothesis profiles for the fuzz tests: ``ci`` (the default) is a bounded run that keeps
``pytest tests/fuzz`` well under a minute; ``REGOGATE_FUZZ_EXAMPLES=N`` runs N examples
per test instead (the long campaign is ``scripts/fuzz-campaign.sh``)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES_ENV = "REGOGATE_FUZZ_EXAMPLES"
CI_EXAMPLES = 60

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get(EXAMPLES_ENV) or CI_EXAMPLES),
    # Timing is not a property here (the machine is shared): a hang is the campaign's
    # watchdog's to find.
    deadline=None,
    # No example database: the corpus in the repo is what persists (Hypothesis still
    # keeps caches in .hypothesis/, which carries its own .gitignore).
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci")
