"""A database of its own for a test module (the shared `bank` database stays as it is)."""

from __future__ import annotations

import time

from regogate.errors import ConfigError
from tests.fix_pg import PgFixture


def create_database(pg: PgFixture, name: str) -> None:
    """``name``, new and empty, owned by rg_scram. CREATE DATABASE fails while another
    session is connected to its template (autovacuum visits template1): retried."""
    pg.server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    for attempt in range(10):
        try:
            pg.server.psql(f"CREATE DATABASE {name} OWNER rg_scram TEMPLATE template0")
            return
        except ConfigError:
            if attempt == 9:
                raise
            time.sleep(0.5)
