"""Cancel keys: the gateway hands out its own secret and maps it to the upstream's.

The process id stays the upstream's real one (test suites compare it with
pg_backend_pid()); only the secret key is gateway-owned (§55.2.8 CancelRequest).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from regogate.config import ConnectionConfig


@dataclass(frozen=True)
class UpstreamKey:
    connection: ConnectionConfig
    pid: int
    secret: bytes


class CancelRegistry:
    def __init__(self) -> None:
        self._keys: dict[tuple[int, bytes], UpstreamKey] = {}

    def issue(self, upstream: UpstreamKey) -> bytes:
        """Register a session; return the secret the client gets."""
        while True:
            secret = secrets.token_bytes(4)
            if (upstream.pid, secret) not in self._keys:
                self._keys[(upstream.pid, secret)] = upstream
                return secret

    def lookup(self, pid: int, secret: bytes) -> UpstreamKey | None:
        return self._keys.get((pid, secret))

    def release(self, pid: int, secret: bytes) -> None:
        self._keys.pop((pid, secret), None)

    def __len__(self) -> int:
        return len(self._keys)
