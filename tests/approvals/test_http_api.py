"""The approvals API over real HTTP, the CLI against it, and the webhook delivered to a
local HTTP server that fails twice before it takes the notice."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import anyio
import httpx
import pytest
from typer.testing import CliRunner

from regogate.approvals.binding import BoundStatement
from regogate.approvals.model import Status
from regogate.cli.main import app
from tests.approvals.conftest import SQL, TOKENS, Served, draft, make_config, serve


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name][0]}"}


def test_approve_through_the_api_then_the_holder_consumes(served: Served) -> None:
    bound = BoundStatement("DELETE FROM t WHERE id = $1", (0,), (b"7",), ())
    r = served.create(draft(sql=bound.sql, digest=served.digest(bound)))
    listed = httpx.get(f"{served.url}/api/v1/requests?status=pending", headers=auth("bob"))
    assert listed.status_code == 200
    assert [x["id"] for x in listed.json()["requests"]] == [r.id]
    assert "bound_digest" not in listed.json()["requests"][0]
    # dave is no approver and did not ask: he sees nothing, and no such request
    assert httpx.get(f"{served.url}/api/v1/requests", headers=auth("dave")).json() == {
        "requests": []
    }
    assert (
        httpx.get(f"{served.url}/api/v1/requests/{r.id}", headers=auth("dave")).status_code == 404
    )
    ok = httpx.post(
        f"{served.url}/api/v1/requests/{r.id}/approve",
        headers=auth("bob"),
        json={"comment": "ticket 123"},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved"
    assert ok.json()["votes"][0]["approver"]["sub"] == "bob"
    assert (
        served.portal.call(served.running.service.consume, r.id, served.digest(bound)).status
        is Status.CONSUMED
    )


@pytest.mark.parametrize(
    ("who", "method", "path", "status", "code"),
    [
        (None, "GET", "/api/v1/requests", 401, "unauthenticated"),
        ("nobody", "GET", "/api/v1/requests", 401, "unauthenticated"),
        ("alice", "POST", "/api/v1/requests/{id}/approve", 403, "forbidden"),  # her own
        ("dave", "POST", "/api/v1/requests/{id}/approve", 404, "not_found"),  # not his
        ("bob", "POST", "/api/v1/requests/ffffffffffff/approve", 404, "not_found"),
        ("bob", "POST", "/api/v1/requests/{id}/deny", 400, "bad_request"),  # no reason
        ("bob", "GET", "/api/v1/requests/{id}/approve", 400, "bad_request"),
    ],
)
def test_refusals(
    served: Served, who: str | None, method: str, path: str, status: int, code: str
) -> None:
    r = served.create(draft())
    headers = {"Authorization": "Bearer wrong"} if who == "nobody" else auth(who) if who else {}
    got = httpx.request(method, f"{served.url}{path.format(id=r.id)}", headers=headers)
    assert got.status_code == status, got.text
    assert got.json()["error"]["code"] == code
    if status == 401:
        assert got.headers["WWW-Authenticate"].startswith("Bearer")
    assert "wrong" not in got.text  # a presented token is never echoed
    assert served.get(r.id).status is Status.PENDING


def test_the_second_decision_is_refused(served: Served) -> None:
    r = served.create(draft())
    url = f"{served.url}/api/v1/requests/{r.id}"
    assert httpx.post(f"{url}/deny", headers=auth("bob"), json={"comment": "no"}).status_code == 200
    again = httpx.post(f"{url}/approve", headers=auth("carol"))
    assert again.status_code == 409
    assert again.json()["error"]["message"].endswith("already denied")


def test_the_cli_lists_shows_approves_and_denies(served: Served) -> None:
    runner = CliRunner()
    env = {"REGOGATE_TOKEN": TOKENS["bob"][0], "REGOGATE_APPROVALS_URL": served.url}
    a, b = served.create(draft()), served.create(draft())
    listed = runner.invoke(app, ["approvals", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert a.id in listed.output and b.id in listed.output and "Mallory" not in listed.output
    shown = runner.invoke(app, ["approvals", "show", a.id], env=env)
    assert "writes to accounts need a DBA" in shown.output
    assert "balance - $1" in shown.output
    approved = runner.invoke(app, ["approvals", "approve", a.id, "-m", "ok"], env=env)
    assert approved.output.strip() == f"request {a.id}: approved"
    denied = runner.invoke(app, ["approvals", "deny", b.id, "--reason", "not now"], env=env)
    assert denied.output.strip() == f"request {b.id}: denied"
    assert served.get(b.id).votes[0].comment == "not now"
    again = runner.invoke(app, ["approvals", "approve", b.id], env=env)
    assert again.exit_code == 1
    assert "already denied" in again.output
    own = runner.invoke(
        app,
        ["approvals", "approve", served.create(draft()).id],
        env={**env, "REGOGATE_TOKEN": TOKENS["alice"][0]},
    )
    assert own.exit_code == 1
    assert "your own" in own.output


class Hook:
    def __init__(self, failures: int):
        self.failures = failures
        self.bodies: list[dict[str, object]] = []
        self.attempts = 0


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    state = Hook(failures=2)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.attempts += 1
            if state.attempts <= state.failures:
                self.send_response(503)
            else:
                state.bodies.append(json.loads(body))
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


def test_the_webhook_is_retried_and_carries_no_literals(
    tmp_path: Path, hook: tuple[Hook, str]
) -> None:
    state, url = hook
    cfg = make_config(tmp_path, f'webhook_url = "{url}"\nwebhook_timeout = 2\n')
    with serve(cfg) as s:
        r = s.create(draft())
        httpx.post(f"{s.url}/api/v1/requests/{r.id}/approve", headers=auth("bob"))
        for _ in range(200):
            if len(state.bodies) == 2:
                break
            s.portal.call(anyio.sleep, 0.05)
    assert state.attempts == 4  # two refused, then the two notices
    created, decided = state.bodies
    assert created["regogate"]["event"] == "created"  # type: ignore[index]
    assert f"Approval requested: {r.id} by alice on ledger" in str(created["text"])
    assert decided["regogate"]["status"] == "approved"  # type: ignore[index]
    assert "by bob" in str(decided["text"])
    text = json.dumps(state.bodies)
    for secret in ("Mallory", "98765", TOKENS["bob"][0], TOKENS["alice"][0]):
        assert secret not in text
    assert SQL not in text
