"""Counters in the Prometheus text format, served on an optional loopback listener.

``[server] metrics_listen = "127.0.0.1:9187"`` serves ``GET /metrics``. Counters:
``regogate_policy_unavailable_total{reason}`` (decisions denied because the policy
engine could not answer), ``regogate_decisions_total{outcome}``,
``regogate_decision_cache_hits_total``, ``regogate_sessions_total``, plus gauges read at
scrape time (active sessions, recorder health).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import anyio
import anyio.abc

Labels = tuple[tuple[str, str], ...]


class Metrics:
    def __init__(self) -> None:
        self._counters: dict[str, dict[Labels, float]] = {}
        self._gauges: dict[str, Callable[[], float]] = {}
        self._read_counters: dict[str, Callable[[], float]] = {}

    def inc(self, name: str, labels: Mapping[str, str] | None = None, by: float = 1) -> None:
        key = tuple(sorted((labels or {}).items()))
        series = self._counters.setdefault(name, {})
        series[key] = series.get(key, 0) + by

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        self._gauges[name] = read

    def counter(self, name: str, read: Callable[[], float]) -> None:
        """A counter kept elsewhere (read at scrape time)."""
        self._read_counters[name] = read

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        return self._counters.get(name, {}).get(tuple(sorted((labels or {}).items())), 0)

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self._counters):
            lines.append(f"# TYPE {name} counter")
            for labels, value in sorted(self._counters[name].items()):
                lines.append(f"{name}{_labels(labels)} {value:g}")
        for name in sorted(self._read_counters):
            lines.append(f"# TYPE {name} counter")
            lines.append(f"{name} {self._read_counters[name]():g}")
        for name in sorted(self._gauges):
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {self._gauges[name]():g}")
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels
    )
    return "{" + inner + "}"


async def serve_metrics(
    metrics: Metrics,
    host: str,
    port: int,
    *,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """A minimal HTTP/1.0 responder for GET /metrics (one request per connection)."""
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                with anyio.fail_after(5):
                    request = b""
                    while b"\r\n\r\n" not in request and len(request) < 8192:
                        request += await stream.receive(4096)
            except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                return
            line = request.split(b"\r\n", 1)[0].split()
            if len(line) >= 2 and line[0] == b"GET" and line[1].split(b"?")[0] == b"/metrics":
                body = metrics.render().encode()
                head = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            else:
                body = b"not found\n"
                head = b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
            head += f"Content-Length: {len(body)}\r\n\r\n".encode()
            try:
                await stream.send(head + body)
            except (anyio.BrokenResourceError, OSError):
                return

    async with listener:
        task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))
        await listener.serve(handle)
