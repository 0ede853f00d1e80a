"""`regogate report --pii-scan-dsn`: the classified columns and their upstream values.

The columns are the policy library's classification (``data.regogate.config.pii.columns``:
``<policy dir>/regogate/config/pii/data.json``, ``schema.table.column`` keys); their
distinct values are read from the upstream with regogate's own client (proxy/upstream.py),
over a DSN given as a URI (``postgresql://user:password@host:port/db?sslmode=require``) or
libpq keywords (``host=… port=… user=… password=… dbname=… sslmode=…``). Without a
password in the DSN, ``PGPASSWORD`` is used. The values stay in memory: nothing prints them.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import cast, get_args
from urllib.parse import parse_qs, unquote, urlsplit

import anyio

from regogate.cli.rec_io import CommandError
from regogate.config.connections import ConnectionConfig, Secret, TlsMode
from regogate.errors import RegogateError
from regogate.proxy.upstream import connect, query_rows
from regogate.recording.read.report_pii import PiiValues
from regogate.wire.frontend import Terminate

CLASSIFICATION = Path("regogate/config/pii/data.json")
TIMEOUT = 60.0


def classified_columns(policy_dir: Path) -> tuple[str, ...]:
    """The columns the policy library classifies, sorted."""
    path = policy_dir / CLASSIFICATION
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CommandError(
            f"--policy-dir {policy_dir}: cannot read {CLASSIFICATION}: {exc}"
        ) from None
    columns = doc.get("columns") if isinstance(doc, dict) else None
    if not isinstance(columns, dict) or not columns:
        raise CommandError(f'{path}: no classified columns (a "columns" object)')
    return tuple(sorted(str(c) for c in columns))


def default_policy_dir() -> Path:
    """./policies/rego when there is one, else the library beside the package."""
    here = Path("policies/rego")
    if (here / CLASSIFICATION).is_file():
        return here
    return Path(__file__).resolve().parents[2] / "policies" / "rego"


def parse_dsn(dsn: str) -> ConnectionConfig:
    """A connection from a URI or libpq keyword DSN (host, port, user, password, dbname,
    sslmode: disable, require or verify-full, sslrootcert)."""
    if dsn.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(dsn)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        words = {
            "host": parts.hostname or "",
            "port": str(parts.port or ""),
            "user": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "dbname": unquote(parts.path.lstrip("/")),
            **query,
        }
    else:
        try:
            pairs = [w.partition("=") for w in shlex.split(dsn)]
        except ValueError as exc:
            raise CommandError(f"--pii-scan-dsn: not a DSN ({exc})") from None
        if any(not sep for _, sep, _ in pairs):
            raise CommandError("--pii-scan-dsn: expected key=value words or a postgresql:// URI")
        words = {k: v for k, _, v in pairs}
    user = words.get("user") or os.environ.get("PGUSER", "")
    if not user:
        raise CommandError("--pii-scan-dsn: name the user (user=… or postgresql://user@…)")
    tls = words.get("sslmode", "disable")
    if tls not in get_args(TlsMode):
        raise CommandError("--pii-scan-dsn: sslmode must be disable, require or verify-full")
    password = words.get("password") or os.environ.get("PGPASSWORD")
    root = words.get("sslrootcert")
    try:
        port = int(words.get("port") or 5432)
    except ValueError:
        raise CommandError("--pii-scan-dsn: port must be a number") from None
    return ConnectionConfig(
        name="pii-scan",
        host=words.get("host") or "localhost",
        port=port,
        database=words.get("dbname") or user,
        user=user,
        password=None if not password else Secret(password, "--pii-scan-dsn"),
        tls=cast(TlsMode, tls),
        tls_ca_file=Path(root) if root else None,
    )


def _quoted(column: str) -> tuple[str, str]:
    """(relation, column) of ``schema.table.column`` as quoted identifiers."""
    parts = column.split(".")
    if len(parts) not in {2, 3} or not all(parts):
        raise CommandError(f"classified column {column!r}: expected schema.table.column")
    ident = ['"' + p.replace('"', '""') + '"' for p in parts]
    return ".".join(ident[:-1]), ident[-1]


async def _read(conn: ConnectionConfig, columns: Sequence[str]) -> PiiValues:
    up = await connect(conn, {"application_name": "regogate report --pii-scan-dsn"})
    try:
        values = []
        for column in columns:
            relation, name = _quoted(column)
            sql = f"SELECT DISTINCT {name}::text FROM {relation} WHERE {name} IS NOT NULL"
            rows = await query_rows(up, sql, TIMEOUT)
            values.append(tuple(sorted(r[0] for r in rows if r[0] is not None)))
        await up.stream.send(Terminate().encode())
    finally:
        await anyio.aclose_forcefully(up.stream)
    return PiiValues(tuple(columns), tuple(values))


def read_values(dsn: str, columns: Sequence[str]) -> PiiValues:
    """The distinct values of ``columns`` (as text) in the upstream ``dsn`` names."""
    conn = parse_dsn(dsn)
    try:
        return anyio.run(_read, conn, columns)
    except RegogateError as exc:
        raise CommandError(f"--pii-scan-dsn: {exc}") from None
