"""`regogate policy test | check | explain`: the policy author's tools.

``explain`` shows the exact input regogate would send for a statement and the decision
the policy returns, using the live catalog when the connection is reachable.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Annotated

import anyio
import typer

from regogate.childenv import opa_env
from regogate.config import Config, ConnectionConfig, load_config
from regogate.errors import ConfigError, RegogateError
from regogate.identity import ClientInfo, Identity
from regogate.masking.explain import output_masks
from regogate.policy.bundle import load_bundle
from regogate.policy.catalog import EMPTY_CATALOG, CatalogSnapshot
from regogate.policy.catalog_fetch import fetch_catalog
from regogate.policy.decision import parse_decision
from regogate.policy.facts import analyze, to_input
from regogate.policy.sidecar import find_opa

policy_app = typer.Typer(help="Write, test and explain policies.", no_args_is_help=True)

DirOpt = Annotated[
    Path | None, typer.Option("--dir", "-d", help="policy directory (default: from config)")
]
ConfigOpt = Annotated[Path, typer.Option("-c", "--config", help="regogate.toml")]


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"regogate: error: {message}", err=True)
    return typer.Exit(code)


def _policy_dir(directory: Path | None, config: Path) -> Path:
    if directory is not None:
        return directory
    if config.exists():
        cfg = load_config(config)
        if cfg.policy.dir is not None:
            return cfg.policy.dir
    return Path("policies/rego")


def _opa(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        opa = find_opa()
    except ConfigError as exc:
        raise _fail(exc.message) from None
    return subprocess.run(
        [opa, *args], capture_output=True, text=True, check=False, timeout=300, env=opa_env()
    )


@policy_app.command("check")
def check(directory: DirOpt = None, config: ConfigOpt = Path("regogate.toml")) -> None:
    """Check the policies: format, strict compile, data files, the decision entrypoint."""
    try:
        d = _policy_dir(directory, config)
        bundle = load_bundle(d)
    except RegogateError as exc:
        raise _fail(exc.message) from None
    problems = 0
    fmt = _opa(["fmt", "--list", str(d)])
    unformatted = [line for line in fmt.stdout.splitlines() if line.strip()]
    for path in unformatted:
        typer.echo(f"{path}: not formatted (run: opa fmt -w {d})")
    problems += len(unformatted)
    strict = _opa(["check", "--strict", str(d)])
    if strict.returncode != 0:
        typer.echo((strict.stderr or strict.stdout).strip())
        problems += 1
    if not any("package regogate\n" in text for text in bundle.modules.values()):
        typer.echo(f"{d}: no module declares `package regogate` (data.regogate.decision)")
        problems += 1
    if problems:
        raise typer.Exit(1)
    typer.echo(
        f"ok: {len(bundle.modules)} modules, {len(bundle.data)} data documents, "
        f"revision {bundle.revision}"
    )


@policy_app.command("test")
def run_tests(
    directory: DirOpt = None,
    config: ConfigOpt = Path("regogate.toml"),
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="every test")] = False,
    threshold: Annotated[float, typer.Option(help="minimum coverage %")] = 0.0,
) -> None:
    """Run the Rego unit tests (opa test), with coverage."""
    try:
        d = _policy_dir(directory, config)
    except RegogateError as exc:
        raise _fail(exc.message) from None
    run = _opa(["test", str(d), *(["-v"] if verbose else [])])
    typer.echo((run.stdout + run.stderr).strip())
    cov = _opa(["test", str(d), "--coverage", "--format=json"])
    try:
        coverage = float(json.loads(cov.stdout).get("coverage", 0.0))
    except (ValueError, AttributeError):
        coverage = 0.0
    typer.echo(f"coverage: {coverage:.1f}%")
    if run.returncode != 0:
        raise typer.Exit(1)
    if coverage < threshold:
        typer.echo(f"coverage {coverage:.1f}% is below the threshold {threshold:.1f}%")
        raise typer.Exit(1)


def _identity(cfg: Config, who: str, groups: list[str] | None) -> Identity:
    for tok in cfg.tokens:
        if tok.sub == who:
            return Identity(
                sub=tok.sub,
                groups=tuple(groups) if groups is not None else tok.groups,
                auth="token",
                issuer="regogate:static",
                token_sha256="",
                email=tok.email,
            )
    if groups is None:
        known = ", ".join(sorted(t.sub for t in cfg.tokens)) or "none"
        raise _fail(f"no [[tokens]] entry with sub {who!r} (known: {known}); or pass --group")
    return Identity(sub=who, groups=tuple(groups), auth="oidc", issuer="", token_sha256="")


def _connection(cfg: Config, name: str | None) -> ConnectionConfig:
    if name is None:
        if len(cfg.connections) == 1:
            return next(iter(cfg.connections.values()))
        raise _fail(f"pick a connection with --conn ({', '.join(sorted(cfg.connections))})")
    conn = cfg.connections.get(name)
    if conn is None:
        raise _fail(f"no connection named {name!r} ({', '.join(sorted(cfg.connections))})")
    return conn


def _catalog(conn: ConnectionConfig, offline: bool) -> tuple[CatalogSnapshot, str]:
    if offline:
        return EMPTY_CATALOG, "none (--offline): * and views are not expanded"
    try:
        snap = anyio.run(fetch_catalog, conn, 5.0)
    except RegogateError as exc:
        return EMPTY_CATALOG, f"unavailable ({exc.message}); * and views are not expanded"
    return snap, f"live, from connection {conn.name!r} ({len(snap.relations)} relations)"


def _decide(d: Path, policy_input: dict[str, object], env: tuple[str, ...] = ()) -> object:
    run = subprocess.run(
        [
            find_opa(),
            "eval",
            "--format=json",
            "-d",
            str(d),
            "--stdin-input",
            "data.regogate.decision",
        ],
        input=json.dumps(policy_input),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=opa_env(env),  # what the gateway's sidecar sees
    )
    if run.returncode != 0:
        raise _fail(f"opa eval failed: {(run.stderr or run.stdout).strip()}")
    doc = json.loads(run.stdout)
    try:
        return doc["result"][0]["expressions"][0]["value"]
    except (KeyError, IndexError, TypeError):
        return None


@policy_app.command("explain")
def explain(
    sql: Annotated[str, typer.Option("--sql", help="the statement(s) to explain")],
    who: Annotated[str, typer.Option("--as", help="identity (sub of a [[tokens]] entry)")],
    conn_name: Annotated[str | None, typer.Option("--conn", help="connection name")] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", help="override the identity's groups")
    ] = None,
    config: ConfigOpt = Path("regogate.toml"),
    directory: DirOpt = None,
    offline: Annotated[bool, typer.Option(help="do not read the live catalog")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show the policy input regogate builds for SQL and the decision it gets."""
    try:
        cfg = load_config(config)
        d = directory or cfg.policy.dir or Path("policies/rego")
        identity = _identity(cfg, who, group)
        conn = _connection(cfg, conn_name)
    except RegogateError as exc:
        raise _fail(exc.message) from None
    catalog, source = _catalog(conn, offline)
    client = ClientInfo("127.0.0.1", 0, who, "regogate policy explain", False)
    analysis = analyze(sql, catalog)
    out: list[dict[str, object]] = []
    verdict = "ALLOW"
    for index, facts in enumerate(analysis.statements):
        policy_input: dict[str, object] = {
            "identity": identity.policy_input(client),
            "connection": {"name": conn.name, "database": conn.database},
            "statement": to_input(facts, catalog),
        }
        raw = _decide(d, policy_input, cfg.policy.env)
        columns: list[dict[str, str]] = []
        try:
            decision = parse_decision(raw)
            refusal = decision.refusal()
            outcome = decision.outcome
            if refusal is None:
                columns, refusal = output_masks(facts, decision, catalog.function_details)
        except RegogateError as exc:
            refusal, outcome = exc.message, "deny"
        if refusal is not None:
            verdict = "DENY"
        out.append(
            {
                "statement": index + 1,
                "input": policy_input,
                "decision": raw,
                "outcome": outcome,
                "refusal": refusal,
                "opaque_reasons": list(facts.opaque_reasons),
                "masks": columns,
            }
        )
    if as_json:
        typer.echo(json.dumps({"catalog": source, "verdict": verdict, "statements": out}, indent=2))
        return
    typer.echo(f"catalog: {source}")
    typer.echo(f"policy:  {d}")
    for item in out:
        typer.echo(f"\n── statement {item['statement']} of {len(out)} ──")
        typer.echo("input:")
        typer.echo(_indent(json.dumps(item["input"], indent=2)))
        if item["opaque_reasons"]:
            reasons = item["opaque_reasons"]
            assert isinstance(reasons, list)
            typer.echo(f"opaque because: {'; '.join(str(r) for r in reasons)}")
        typer.echo("decision:")
        typer.echo(_indent(json.dumps(item["decision"], indent=2)))
        typer.echo(f"outcome: {item['outcome']}")
        shown = item["masks"]
        assert isinstance(shown, list)
        if shown:
            typer.echo("masks per output column (the column itself / derived from it):")
            for col in shown:
                typer.echo(f"  {col['column']}: {col['mask']} / {col['derived']}")
        if item["refusal"]:
            typer.echo(f"refused: {item['refusal']}")
    if not out:
        typer.echo("the text holds no statement (an empty query is passed through)")
    typer.echo(f"\nregogate would {verdict} this message")


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
