"""Asking OPA for decisions over its REST Data API, failing closed on any trouble.

One keep-alive HTTP client per gateway; a tight timeout; every failure becomes a
PolicyUnavailable (SQLSTATE 42501) that tells the user the policy engine is unavailable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Protocol

import httpx
import orjson

from regogate.errors import PolicyUnavailable
from regogate.policy.decision import Decision, parse_decision
from regogate.policy.opa_batch import BATCH_PATH, BatchRefused, DecisionBatcher
from regogate.policy.opa_http import HttpPool

log = logging.getLogger("regogate.opa")

DECISION_PATH = "/v1/data/regogate/decision"
UNIX_SCHEME = "unix://"  # unix:///path/to/opa.sock: the sidecar's own socket
_UNDEFINED = object()  # a decision OPA has no value for


class DecisionSource(Protocol):
    """Where decisions come from (OPA in production; anything in unit tests)."""

    async def decide(self, policy_input: Mapping[str, object], revision: str) -> Decision: ...


class Metrics(Protocol):
    def inc(self, name: str, labels: Mapping[str, str] | None = None) -> None: ...


class OpaClient:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.5,
        metrics: Metrics | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.url = url.rstrip("/")
        unix = self.url[len(UNIX_SCHEME) :] if self.url.startswith(UNIX_SCHEME) else None
        lean = transport is None  # a caller's own transport is used for everything
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        if unix is not None and transport is None:
            transport = httpx.AsyncHTTPTransport(uds=unix, limits=limits)
        self._client = httpx.AsyncClient(
            base_url="http://localhost" if unix is not None else self.url,
            timeout=httpx.Timeout(timeout),
            limits=limits,
            transport=transport,
            headers={"content-type": "application/json"},
        )
        self._metrics = metrics
        self._timeout = timeout
        # Decisions to a plain-http OPA (or the sidecar's unix socket) take the lean
        # HTTP/1.1 path of opa_http (decision 0005); the rest (policy pushes, health,
        # https) goes through httpx.
        self._fast: HttpPool | None = None
        self._batcher: DecisionBatcher[object] | None = None
        if lean and unix is not None:
            self._fast = HttpPool("localhost", 0, unix=unix)
        elif lean:
            parsed = httpx.URL(self.url)
            if parsed.scheme == "http" and not parsed.path.strip("/"):
                self._fast = HttpPool(parsed.host, parsed.port or 80)

    async def aclose(self) -> None:
        if self._fast is not None:
            await self._fast.aclose()
        await self._client.aclose()

    def _fail(self, reason: str) -> PolicyUnavailable:
        if self._metrics is not None:
            self._metrics.inc("regogate_policy_unavailable_total", {"reason": reason})
        return PolicyUnavailable(
            f"the policy engine is unavailable ({reason}); statement denied (fail closed)",
            hint="check the OPA sidecar (regogate serve logs, /health); statements are denied "
            "until it answers",
        )

    def enable_batches(self, max_inflight: int) -> None:
        """OPA holds ``opa_batch.BATCH_MODULE`` (the sidecar pushed it): decisions asked
        while ``max_inflight`` are under way share requests (``opa_batch``)."""
        if self._fast is not None and self._batcher is None:
            self._batcher = DecisionBatcher(
                self._one, self._many, max_inflight=max_inflight, budget=self._timeout / 4
            )

    @property
    def batcher(self) -> DecisionBatcher[object] | None:
        return self._batcher

    async def decide(self, policy_input: Mapping[str, object], revision: str) -> Decision:
        try:
            text = orjson.dumps(policy_input)
        except TypeError:  # what orjson refuses (an int beyond 64 bits...) json may take
            text = json.dumps(policy_input, separators=(",", ":")).encode()
        if self._batcher is not None:
            result = await self._batcher.submit(text)
        else:
            result = await self._one(text)
        if result is _UNDEFINED:
            raise PolicyUnavailable(
                "the policy decision is undefined: data.regogate.decision has no value for this "
                "statement; statement denied (fail closed)",
                hint="give every field of the decision a default in Rego",
            )
        return parse_decision(result, revision)

    async def _one(self, text: bytes) -> object:
        """One input's decision: its ``result``, or _UNDEFINED."""
        status, content = await self._post(DECISION_PATH, b'{"input":' + text + b"}")
        if status != 200:
            raise self._fail(f"HTTP {status}")
        doc = self._json(content)
        if not isinstance(doc, dict) or "result" not in doc:
            return _UNDEFINED
        return doc["result"]

    async def _many(self, texts: list[bytes]) -> list[object]:
        """Several inputs' decisions in one request (``opa_batch.BATCH_MODULE``)."""
        body = b'{"input":{"items":[' + b",".join(texts) + b"]}}"
        status, content = await self._post(BATCH_PATH, body)
        if status != 200:
            raise BatchRefused(f"HTTP {status}")
        doc = self._json(content)
        result = doc.get("result") if isinstance(doc, dict) else None
        if not isinstance(result, dict):
            raise BatchRefused("no batch result (the batch module is not loaded)")
        return [result.get(str(i), _UNDEFINED) for i in range(len(texts))]

    async def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self._fast is not None:
            try:
                return await self._fast.post(path, body, self._timeout)
            except TimeoutError:
                raise self._fail("timed out") from None
            except OSError as exc:
                log.warning("OPA request failed: %s", exc)
                raise self._fail("unreachable") from None
        try:
            resp = await self._client.post(path, content=body)
        except httpx.TimeoutException:
            raise self._fail("timed out") from None
        except httpx.HTTPError as exc:
            log.warning("OPA request failed: %s", type(exc).__name__)
            raise self._fail("unreachable") from None
        return resp.status_code, resp.content

    def _json(self, content: bytes) -> object:
        try:
            return orjson.loads(content)
        except ValueError:
            raise self._fail("invalid JSON") from None

    async def healthy(self) -> bool:
        try:
            resp = await self._client.get("/health")
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    async def put_policy(self, policy_id: str, text: str) -> str | None:
        """Install one module; return OPA's error message, or None on success."""
        resp = await self._client.put(
            f"/v1/policies/{policy_id}",
            content=text.encode(),
            headers={"content-type": "text/plain"},
        )
        return None if resp.status_code == 200 else _error_text(resp)

    async def delete_policy(self, policy_id: str) -> None:
        await self._client.delete(f"/v1/policies/{policy_id}")

    async def put_data(self, path: str, value: object) -> str | None:
        resp = await self._client.put(f"/v1/data/{path}", content=json.dumps(value).encode())
        return None if resp.status_code in (200, 204) else _error_text(resp)


def _error_text(resp: httpx.Response) -> str:
    try:
        doc = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    if isinstance(doc, dict):
        errors = doc.get("errors") or []
        parts = [str(doc.get("message", ""))]
        for e in errors if isinstance(errors, list) else []:
            if isinstance(e, dict):
                loc = e.get("location") or {}
                where = (
                    f"{loc.get('file', '')}:{loc.get('row', '')}" if isinstance(loc, dict) else ""
                )
                parts.append(f"{where}: {e.get('message', '')}")
        return "; ".join(p for p in parts if p)
    return f"HTTP {resp.status_code}"
