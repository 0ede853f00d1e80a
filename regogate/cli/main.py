"""The `regogate` command line (typer): serve, demo, token."""

from __future__ import annotations

import logging
import secrets
import signal
import sys
from pathlib import Path
from typing import Annotated

import anyio
import typer

from regogate import __version__
from regogate.cli import approvals as approvals_cli
from regogate.cli import policy as policy_cli
from regogate.cli import recording as recording_cli
from regogate.cli import report as report_cli
from regogate.config import Config, load_config
from regogate.errors import RegogateError
from regogate.identity import token_sha256

app = typer.Typer(
    help="regogate — a policy-as-code gateway for PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
token_app = typer.Typer(help="Static service tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
policy_cli.register(app)
recording_cli.register(app)
report_cli.register(app)
approvals_cli.register(app)

ConfigOpt = Annotated[Path, typer.Option("-c", "--config", help="regogate.toml")]


def _fail(exc: RegogateError | str, code: int = 2) -> typer.Exit:
    message = exc.message if isinstance(exc, RegogateError) else exc
    typer.echo(f"regogate: error: {message}", err=True)
    if isinstance(exc, RegogateError) and exc.hint:
        typer.echo(f"hint: {exc.hint}", err=True)
    return typer.Exit(code)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def _serve(config: Config) -> None:
    from regogate import runtime
    from regogate.proxy.server import Gateway

    async with runtime.start(config) as rt, anyio.create_task_group() as tg:
        gateway = Gateway(config, hooks=rt.hooks)
        rt.metrics.gauge("regogate_sessions_active", lambda: gateway.active)
        admission = gateway.admission
        rt.metrics.gauge("regogate_sessions_pending_auth", lambda: admission.pending)
        rt.metrics.counter("regogate_pending_auth_evicted_total", lambda: admission.evictions)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:

            async def on_signals() -> None:
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        logging.getLogger("regogate").info("SIGHUP: reloading policies")
                        rt.reload()
                        continue
                    if gateway.shutting_down.is_set():
                        tg.cancel_scope.cancel()  # a second signal stops at once
                        return
                    logging.getLogger("regogate").info("shutting down: draining sessions")
                    gateway.shutdown()

            tg.start_soon(on_signals)
            await gateway.serve()
            tg.cancel_scope.cancel()


def run_async(config: Config) -> None:
    try:
        anyio.run(_serve, config, backend_options={"use_uvloop": True})
    except BaseExceptionGroup as group:  # task groups wrap a startup error (bad recording dir…)
        error = _only_error(group)
        if error is None:
            raise
        raise error from None


def _only_error(group: BaseExceptionGroup[BaseException]) -> RegogateError | None:
    """The RegogateError a task group wrapped, if that is all it holds."""
    leaves: list[BaseException] = []
    todo: list[BaseException] = [group]
    while todo:
        exc = todo.pop()
        if isinstance(exc, BaseExceptionGroup):
            todo.extend(exc.exceptions)
        else:
            leaves.append(exc)
    errors = [e for e in leaves if isinstance(e, RegogateError)]
    return errors[0] if errors and len(errors) == len(leaves) else None


@app.command()
def serve(
    config: ConfigOpt = Path("regogate.toml"),
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Run the gateway."""
    _logging(verbose)
    try:
        cfg = load_config(config)
        run_async(cfg)
    except RegogateError as exc:
        raise _fail(exc) from None


@app.command()
def demo(
    state_dir: Annotated[Path, typer.Option("--dir", help="state directory")] = Path(".regogate"),
    fresh: Annotated[bool, typer.Option("--fresh", help="wipe the demo state first")] = False,
    port: Annotated[int, typer.Option("--port", help="gateway port (default 6432 if free)")] = 0,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Start a throwaway PostgreSQL with the demo bank database and a gateway in front."""
    from regogate.demo.setup import DEMO_IDENTITIES, prepare

    _logging(verbose)
    try:
        typer.echo("regogate demo: starting PostgreSQL and loading the bank database …")
        setup = prepare(state_dir, fresh=fresh, gateway_port=port or None)
        cfg = load_config(setup.config_path)
    except RegogateError as exc:
        raise _fail(exc) from None
    typer.echo(f"\nregogate is listening on 127.0.0.1:{setup.gateway_port}. Connect as:")
    for who, groups in DEMO_IDENTITIES.items():
        typer.echo(f"  {who:8} ({', '.join(groups)}):  {setup.psql_command(who)}")
    typer.echo(f"\nPII masked in flight (docs/masking.md): {setup.masked_example('analyst')}")
    typer.echo(f"\nThe same details, as shell variables: {setup.env_path}")
    typer.echo(f'Direct admin access to the demo database: psql "{setup.upstream_dsn()}"')
    typer.echo(  # dba writes to accounts and DDL wait for approval (docs/approvals.md)
        f"Approvals page: {setup.approvals_url}  (sign in as approver with the token "
        f"{setup.tokens['approver']})"
    )
    typer.echo(
        "Press Ctrl-C to stop. State is kept for the next run (--fresh wipes it).\n",
    )
    try:
        run_async(cfg)
    except RegogateError as exc:
        raise _fail(exc) from None
    finally:
        setup.pg.stop()
        typer.echo("regogate demo: stopped.")


@token_app.command("generate")
def token_generate() -> None:
    """Print a new random token and the token_sha256 line for regogate.toml."""
    token = "rg_" + secrets.token_urlsafe(32)
    typer.echo(f"token:        {token}")
    typer.echo(f'token_sha256 = "{token_sha256(token)}"')


@token_app.command("hash")
def token_hash(token: Annotated[str, typer.Option(prompt=True, hide_input=True)]) -> None:
    """Print the token_sha256 value of a token (read from a hidden prompt)."""
    typer.echo(f'token_sha256 = "{token_sha256(token)}"')


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"regogate {__version__}")
