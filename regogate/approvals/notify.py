"""Webhook notices of new requests and outcomes: Slack-compatible JSON (``{"text": …}``
plus a ``regogate`` object), delivered in the background with a timeout per attempt and
retries with exponential backoff.

A notice names the request, who asked, the connection, the reason, the approvers and the
statement with its literals already replaced by ``$n``; never a token, a key or a literal.
"""

from __future__ import annotations

import logging
import math

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from regogate.approvals.model import ApprovalRequest, Status
from regogate.approvals.service import ApprovalEvent

log = logging.getLogger("regogate.approvals")

QUEUE_SIZE = 1000
MAX_STATEMENT = 300


def slack_escape(text: str) -> str:
    """Slack's three control characters (api.slack.com "Escaping text")."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(event: ApprovalEvent, base_url: str) -> dict[str, object]:
    r = event.request
    link = f"{base_url}/requests/{r.id}"
    statement = r.display_text.replace("\n", " ")
    if len(statement) > MAX_STATEMENT:
        statement = statement[:MAX_STATEMENT] + " …"
    statement = statement.replace("`", "'")
    if event.kind == "created":
        head = f"Approval requested: {r.id} by {r.requester.sub} on {r.connection}"
        lines = [
            head,
            f"Reason: {r.reason or '-'}",
            f"Approvers: {', '.join(r.approvers)}",
            f"Statement: `{statement}`",
        ]
    else:
        lines = [f"Approval request {r.id} {r.status.value}{_by(r)}"]
        if r.outcome_note:
            lines.append(r.outcome_note)
    text = "\n".join(slack_escape(line) for line in lines) + f"\n<{link}|Open request {r.id}>"
    return {
        "text": text,
        "regogate": {
            "event": event.kind,
            "id": r.id,
            "status": r.status.value,
            "requester": r.requester.sub,
            "connection": r.connection,
            "approvers": list(r.approvers),
            "url": link,
        },
    }


def _by(r: ApprovalRequest) -> str:
    if r.status in (Status.APPROVED, Status.DENIED) and r.votes:
        return " by " + ", ".join(v.approver.sub for v in r.votes)
    return ""


class WebhookNotifier:
    """``submit`` queues (never blocks: a full queue drops the notice, with a warning);
    ``run`` delivers, in order, until cancelled."""

    def __init__(
        self,
        url: str,
        *,
        base_url: str,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.url = url
        self._base_url = base_url
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._transport = transport
        self._send: MemoryObjectSendStream[ApprovalEvent]
        self._receive: MemoryObjectReceiveStream[ApprovalEvent]
        self._send, self._receive = anyio.create_memory_object_stream[ApprovalEvent](QUEUE_SIZE)
        self.delivered = 0
        self.failed = 0

    def submit(self, event: ApprovalEvent) -> None:
        try:
            self._send.send_nowait(event)
        except anyio.WouldBlock:
            log.warning("approvals webhook: queue full, notice of %s dropped", event.request.id)

    async def run(self) -> None:
        async with httpx.AsyncClient(
            transport=self._transport, timeout=self._timeout, follow_redirects=False
        ) as client:
            async for event in self._receive:
                if await self.deliver(client, event):
                    self.delivered += 1
                else:
                    self.failed += 1

    async def deliver(self, client: httpx.AsyncClient, event: ApprovalEvent) -> bool:
        body = payload(event, self._base_url)
        for attempt in range(self._retries + 1):
            problem = await self._attempt(client, body)
            if problem is None:
                return True
            if attempt < self._retries:
                delay = self._backoff * math.pow(2, attempt)
                log.info("approvals webhook: %s (retry in %.1f s)", problem, delay)
                await anyio.sleep(delay)
            else:
                log.warning(
                    "approvals webhook: notice of %s not delivered: %s", event.request.id, problem
                )
        return False

    async def _attempt(self, client: httpx.AsyncClient, body: dict[str, object]) -> str | None:
        try:
            response = await client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"  # the URL may hold a token: not echoed
        if response.is_success:
            return None
        return f"HTTP status {response.status_code}"
