"""`regogate approvals list | show ID | approve ID | deny ID --reason … | serve`: the
approvals HTTP API from the terminal (docs/approvals.md), and the API and page alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

approvals_app = typer.Typer(help="Approve or deny held statements.", no_args_is_help=True)

UrlOpt = Annotated[
    str,
    typer.Option("--url", envvar="REGOGATE_APPROVALS_URL", help="the approvals API's address"),
]
TokenOpt = Annotated[
    str,
    typer.Option(
        "--token",
        envvar="REGOGATE_TOKEN",
        help="your token (a [[tokens]] token or an OIDC access token); "
        "prefer the REGOGATE_TOKEN variable: a --token shows in `ps`",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the API's JSON")]
DEFAULT_URL = "http://127.0.0.1:8433"


def register(app: typer.Typer) -> None:
    app.add_typer(approvals_app, name="approvals")


class ApiFailure(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


def call(method: str, url: str, token: str, path: str, body: object = None) -> Any:
    """One API call; the parsed JSON answer, or ApiFailure with the API's message."""
    if not token:
        raise ApiFailure("no token", "set REGOGATE_TOKEN (or pass --token)")
    try:
        response = httpx.request(
            method,
            url.rstrip("/") + path,
            headers={"Authorization": f"Bearer {token}"},
            json=body,
            timeout=30.0,
        )
    except httpx.HTTPError as exc:
        raise ApiFailure(
            f"cannot reach the approvals API at {url}: {type(exc).__name__}",
            "check --url / REGOGATE_APPROVALS_URL ([approvals] listen of the gateway)",
        ) from None
    try:
        answer = response.json()
    except ValueError:
        raise ApiFailure(f"the approvals API answered HTTP {response.status_code}") from None
    if response.is_error:
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        raise ApiFailure(
            str(error.get("message") or f"HTTP {response.status_code}"), error.get("hint")
        )
    return answer


def _run(method: str, url: str, token: str, path: str, body: object = None) -> Any:
    try:
        return call(method, url, token, path, body)
    except ApiFailure as exc:
        typer.echo(f"regogate: error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        raise typer.Exit(1) from None


def _when(value: object) -> str:
    if not isinstance(value, int | float):
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _show(r: dict[str, Any]) -> None:
    requester = r.get("requester", {})
    typer.echo(f"request     {r['id']}  ({r['status']})")
    typer.echo(f"requested   by {requester.get('sub')} on {r.get('connection')}")
    typer.echo(f"reason      {r.get('reason') or '-'}")
    typer.echo(f"approvers   {', '.join(r.get('approvers', []))}  (need {r['min_approvals']})")
    typer.echo(f"created     {_when(r.get('created_at'))}")
    typer.echo(f"expires     {_when(r.get('expires_at'))}")
    if r.get("decided_at") is not None:
        typer.echo(f"decided     {_when(r.get('decided_at'))}")
    for vote in r.get("votes", []):
        comment = f": {vote['comment']}" if vote.get("comment") else ""
        typer.echo(f"  {vote['verdict']:8} {vote['approver']['sub']}{comment}")
    if r.get("outcome_note"):
        typer.echo(f"note        {r['outcome_note']}")
    typer.echo("statement")
    for line in str(r.get("statement", "")).splitlines():
        typer.echo(f"  {line}")


@approvals_app.command("list")
def list_requests(
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = "",
    status: Annotated[
        str, typer.Option(help="comma-separated statuses; 'all' for every one")
    ] = "pending",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Requests you may decide (or made), newest first."""
    query = f"?limit={limit}" + ("" if status == "all" else f"&status={status}")
    answer = _run("GET", url, token, f"/api/v1/requests{query}")
    if as_json:
        typer.echo(json.dumps(answer, indent=1))
        return
    requests = answer.get("requests", [])
    if not requests:
        typer.echo("no requests")
    for r in requests:
        statement = " ".join(str(r.get("statement", "")).split())
        statement = statement if len(statement) <= 60 else statement[:59] + "…"
        who = r.get("requester", {}).get("sub", "?")
        typer.echo(f"{r['id']}  {r['status']:9} {who:16} {r.get('connection', '')}  {statement}")


@approvals_app.command()
def show(
    request_id: str, url: UrlOpt = DEFAULT_URL, token: TokenOpt = "", as_json: JsonOpt = False
) -> None:
    """One request: who asked, why, the statement (literals redacted), decisions."""
    answer = _run("GET", url, token, f"/api/v1/requests/{request_id}")
    if as_json:
        typer.echo(json.dumps(answer, indent=1))
    else:
        _show(answer)


@approvals_app.command()
def approve(
    request_id: str,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = "",
    comment: Annotated[str, typer.Option("--comment", "-m")] = "",
) -> None:
    """Approve a request (you may not approve your own)."""
    answer = _run(
        "POST", url, token, f"/api/v1/requests/{request_id}/approve", {"comment": comment}
    )
    typer.echo(f"request {answer['id']}: {answer['status']}")


@approvals_app.command()
def deny(
    request_id: str,
    reason: Annotated[str, typer.Option("--reason", "-m", help="why (shown to the requester)")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = "",
) -> None:
    """Deny a request, with a reason."""
    answer = _run("POST", url, token, f"/api/v1/requests/{request_id}/deny", {"comment": reason})
    typer.echo(f"request {answer['id']}: {answer['status']}")


@approvals_app.command()
def serve(
    config: Annotated[Path, typer.Option("-c", "--config")] = Path("regogate.toml"),
) -> None:
    """Run only the approvals API and page (the approvals section; no PostgreSQL listener)."""
    import anyio

    from regogate.approvals.running import start_approvals
    from regogate.config import load_config
    from regogate.errors import RegogateError

    async def run() -> None:
        cfg = load_config(config)
        if not cfg.approvals.enabled:
            raise typer.BadParameter(f"{config} has no [approvals] section")
        async with start_approvals(cfg) as running:
            typer.echo(f"approvals: API and page on {running.url}", err=True)
            await anyio.sleep_forever()

    try:
        anyio.run(run)
    except RegogateError as exc:
        typer.echo(f"regogate: error: {exc.message}", err=True)
        raise typer.Exit(2) from None
