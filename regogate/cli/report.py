"""`regogate report` (the FFIEC evidence report) and `regogate report check`.

Parses options, finds the logs, trust and prior files, shows progress on a terminal,
writes the chosen formats. The work is in ``regogate.recording.read.report_*``. Exit
status: 0 the logs verify, 1 a log fails (the report is still written, with its FAIL
banner) or check found a difference, 2 usage.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer

from regogate import __version__
from regogate.cli.rec_io import CommandError, ExitStatus
from regogate.cli.recording import ConfigOpt, TrustOpt, _errors, _trusted, resolve_paths
from regogate.cli.report_pii import classified_columns, default_policy_dir, read_values
from regogate.recording.format.jcs import JSONValue
from regogate.recording.read import report_render
from regogate.recording.read.report_aggregate import JSONObject, Window
from regogate.recording.read.report_check import differences
from regogate.recording.read.report_read import LogSource, Progress, ReportInputs, build, quiet
from regogate.recording.read.sessions import parse_time
from regogate.recording.read.verify import TrustHistory

report_app = typer.Typer(
    help="Evidence reports for examiners (FFIEC, GLBA, PCI DSS, NIST).",
    invoke_without_command=True,
    no_args_is_help=False,
)

FORMATS = ("html", "json", "pdf")
PiiDsnOpt = Annotated[
    str | None,
    typer.Option(
        "--pii-scan-dsn",
        metavar="DSN",
        help="scan the records for the upstream's classified values (PGPASSWORD for the password)",
    ),
]


@dataclass
class TerminalProgress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    out: TextIO
    last: float = 0.0
    shown: str = ""

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        width = 30
        filled = width if total <= 0 else min(width, width * done // total)
        pct = 100 if total <= 0 else 100 * done // total
        line = f"\r{what:<20} [{'#' * filled}{'.' * (width - filled)}] {pct:3d}%"
        self.out.write(line)
        if done >= total:
            self.out.write("\n")
        self.out.flush()


def progress_for(stream: TextIO) -> Progress:
    return TerminalProgress(stream) if stream.isatty() else quiet


def _day_or_time(value: str, *, end: bool) -> str:
    """--from/--to: a date means the start of that day; for --to, its end (inclusive)."""
    text = value.strip()
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        if end:
            day = day.fromordinal(day.toordinal() + 1).replace(tzinfo=UTC)
        text = day.isoformat()
    return parse_time(text, time.time_ns() // 1000)


def generation_line() -> str:
    """The one line naming the run: its time (SOURCE_DATE_EPOCH if set) and version."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return f"generated {when.strftime('%Y-%m-%dT%H:%M:%SZ')} by regogate {__version__}"


def _formats(text: str) -> list[str]:
    chosen = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise CommandError(f"--format: choose from {', '.join(FORMATS)} (got {text!r})")
    return chosen


def write_outputs(
    evidence: JSONObject, out_dir: Path, formats: list[str], templates: list[Path]
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"regogate-report-{evidence['report_id']}"
    generated = generation_line()
    written: list[Path] = []
    html_text = report_render.html(evidence, generated, templates)
    if "json" in formats:
        path = stem.with_suffix(".json")
        path.write_text(report_render.json_text(generated, evidence))
        written.append(path)
    if "html" in formats:
        path = stem.with_suffix(".html")
        path.write_text(html_text)
        written.append(path)
    if "pdf" in formats:
        try:
            data = report_render.pdf(html_text)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        path = stem.with_suffix(".pdf")
        path.write_bytes(data)
        written.append(path)
    return written


def _templates(given: Path | None) -> list[Path]:
    if given is not None:
        if not given.is_dir():
            raise CommandError(f"--templates {given}: not a directory")
        return [given]
    here = Path("reports")
    return [here] if (here / report_render.MAIN).is_file() else []


@report_app.callback()
def report(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option("--from", metavar="DATE", help="start of the period (2024-01-01, UTC)"),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--to", metavar="DATE", help="end of the period (a date is inclusive)"),
    ] = None,
    directories: Annotated[
        list[Path] | None,
        typer.Option("-d", "--dir", metavar="DIR", help="a recording directory; one per log"),
    ] = None,
    connection: Annotated[
        str | None, typer.Option("--connection", metavar="GLOB", help="connection or database")
    ] = None,
    identity: Annotated[
        str | None, typer.Option("--identity", metavar="GLOB", help="subject, email or group")
    ] = None,
    protected: Annotated[
        list[str] | None,
        typer.Option("--protected", metavar="GLOB", help="tables whose writes are privileged"),
    ] = None,
    formats: Annotated[
        str, typer.Option("--format", metavar="LIST", help="html,json,pdf")
    ] = "html,json",
    out_dir: Annotated[
        Path, typer.Option("-o", "--output", metavar="DIR", help="where to write")
    ] = Path(),
    trust: TrustOpt = None,
    prior: Annotated[
        list[Path] | None,
        typer.Option("--prior", metavar="FILE", help="a checkpoint kept from the last report"),
    ] = None,
    sample: Annotated[
        int, typer.Option("--sample", metavar="N", min=0, help="sessions sampled per log")
    ] = 5,
    templates: Annotated[
        Path | None,
        typer.Option("--templates", metavar="DIR", help="Jinja templates (default: ./reports)"),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", metavar="N", help="verify processes")] = 0,
    pii_scan_dsn: PiiDsnOpt = None,
    policy_dir: Annotated[
        Path | None,
        typer.Option("--policy-dir", metavar="DIR", help="the classified columns' policy library"),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Verify the period's recordings and write the evidence report (HTML, JSON, PDF)."""
    if ctx.invoked_subcommand is not None:
        return
    with _errors():
        if since is None:
            raise CommandError("pass --from DATE: the start of the period")
        dirs = list(directories or [])
        if not dirs:
            found, _ = resolve_paths(config, None, None)
            dirs = [found] if found is not None else []
        if not dirs:
            raise CommandError("no recording directory: pass -d DIR (or -c regogate.toml)")
        given = _trusted(trust or [], None)
        if given is None:
            raise CommandError("no trusted keys: pass --trust FILE (`regogate keys export`)")
        window = Window(
            _day_or_time(since, end=False),
            None if until is None else _day_or_time(until, end=True),
            connection,
            identity,
            tuple(protected or ()),
        )
        inputs = ReportInputs(
            logs=[LogSource(d, str(d)) for d in dirs],
            trusted=given.keys,
            histories=given.histories,
            trust_files=given.sources,
            prior=[(str(p), p.read_text()) for p in prior or []],
            window=window,
            workers=workers or os.cpu_count() or 1,
            sample_size=sample,
        )
        if pii_scan_dsn is not None:
            columns = classified_columns(policy_dir or default_policy_dir())
            inputs = replace(inputs, pii=read_values(pii_scan_dsn, columns))
        elif policy_dir is not None:
            raise CommandError("--policy-dir is for --pii-scan-dsn: pass both")
        chosen = _formats(formats)
        evidence = build(inputs, progress_for(sys.stderr))
        written = write_outputs(evidence, out_dir, chosen, _templates(templates))
    integrity = evidence["integrity"]
    verdict = integrity["verdict"] if isinstance(integrity, dict) else "FAIL"
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"integrity: {verdict}")
    if verdict != "PASS":
        raise typer.Exit(ExitStatus.NOT_INTACT)


def _obj(value: JSONValue) -> dict[str, JSONValue]:
    if not isinstance(value, dict):
        raise CommandError("not a regogate JSON report (regogate.report/1)")
    return value


def _strs(value: JSONValue) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def inputs_of(
    evidence: dict[str, JSONValue],
    trust: list[Path],
    directories: list[Path],
    prior: list[Path],
    workers: int,
    pii_scan_dsn: str | None = None,
) -> ReportInputs:
    """The inputs that made ``evidence``: its own names for the logs and files (they are
    part of the figures), read from where the examiner has them (``directories``,
    ``prior``: in the report's order; else the paths the report names)."""
    given = _trusted(trust, None)
    if given is None:
        raise CommandError("pass --trust FILE: the keys you trust, not the report's")
    described = _obj(evidence.get("inputs"))
    labels = _strs(described.get("trust"))
    histories = given.histories
    if len(labels) == len(trust):  # the examiner's files stand for the report's, in order
        named = dict(zip(given.sources, labels, strict=True))
        histories = [TrustHistory(named[h.source], h.entries) for h in histories]
    period, filters = _obj(evidence.get("period")), _obj(evidence.get("filters"))
    listed = described.get("logs")
    logs = [_obj(x) for x in listed] if isinstance(listed, list) else []
    if directories and len(directories) != len(logs):
        raise CommandError(f"the report covers {len(logs)} log(s): pass -d once per log")
    prior_names = _strs(described.get("prior"))
    if prior and len(prior) != len(prior_names):
        raise CommandError(f"the report used {len(prior_names)} --prior file(s)")
    sources = [
        LogSource(
            directories[i] if directories else Path(str(log.get("directory"))),
            str(log.get("directory")),
            tuple(Path(a) for a in _strs(log.get("archives"))),
        )
        for i, log in enumerate(logs)
    ]
    paths = prior or [Path(n) for n in prior_names]
    sample = described.get("sample_size")
    scan = _obj(_obj(evidence.get("masking")).get("scan"))
    pii = None
    if scan.get("run") is True:
        if pii_scan_dsn is None:
            raise CommandError(
                "the report scanned for classified values: pass --pii-scan-dsn DSN (the upstream)"
            )
        pii = read_values(pii_scan_dsn, _strs(scan.get("columns")))

    def text(v: JSONValue) -> str | None:
        return v if isinstance(v, str) else None

    return ReportInputs(
        logs=sources,
        trusted=given.keys,
        histories=histories,
        trust_files=labels,
        prior=[(name, p.read_text()) for name, p in zip(prior_names, paths, strict=True)],
        window=Window(
            text(period.get("from")),
            text(period.get("to")),
            text(filters.get("connection")),
            text(filters.get("identity")),
            tuple(_strs(filters.get("protected_tables"))),
        ),
        workers=workers or os.cpu_count() or 1,
        sample_size=sample if isinstance(sample, int) else 5,
        report_id=text(evidence.get("report_id")),
        pii=pii,
    )


@report_app.command("check")
def check(
    report_file: Annotated[Path, typer.Argument(metavar="REPORT.json")],
    trust: TrustOpt = None,
    directories: Annotated[
        list[Path] | None,
        typer.Option("-d", "--dir", metavar="DIR", help="the logs, in the report's order"),
    ] = None,
    prior: Annotated[
        list[Path] | None,
        typer.Option("--prior", metavar="FILE", help="the report's prior files, in order"),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", metavar="N")] = 0,
    pii_scan_dsn: PiiDsnOpt = None,
) -> None:
    """Recompute every figure of a JSON report from the logs; exit 1 on any difference."""
    with _errors():
        try:
            doc = json.loads(report_file.read_text())
        except ValueError as exc:
            raise CommandError(f"{report_file}: not JSON ({exc})") from None
        claimed = _obj(_obj(doc).get("evidence"))
        inputs = inputs_of(
            claimed, trust or [], directories or [], prior or [], workers, pii_scan_dsn
        )
        recomputed = build(inputs, progress_for(sys.stderr))
    found = differences(claimed, recomputed)
    for d in found[:50]:
        typer.echo(d.line())
    if len(found) > 50:
        typer.echo(f"… and {len(found) - 50} more differences")
    integrity = recomputed.get("integrity")
    verdict = integrity.get("verdict") if isinstance(integrity, dict) else "FAIL"
    if found:
        typer.echo(f"report check: {len(found)} figure(s) differ from the log", err=True)
        raise typer.Exit(ExitStatus.NOT_INTACT)
    typer.echo(f"report check: every figure matches the log (integrity {verdict})")
    if verdict != "PASS":
        raise typer.Exit(ExitStatus.NOT_INTACT)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
