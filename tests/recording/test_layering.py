"""Which recording module may touch what: the format, the write side, the read side.

The format imports neither side; the read side never imports the write side (an
examiner's tools need nothing the gateway signs or writes with); the pure modules of each
side do no I/O beyond reading files; only the writer uses an event loop.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "regogate" / "recording"
SIDES = ("format", "write", "read")
FORMAT = [
    "jcs",
    "merkle",
    "note",
    "checkpoint",
    "records",
    "layout",
    "proof",
    "key_history",
    "key_info",
    "mac",
    "directory",
]
# The write side: the store, the log core that feeds it, the writer process around the
# core, the event loop's hot path (frames, their queue, result summaries), the
# gateway-facing recorder with its backends, the gateway's side of commitments, keys,
# provenance, exports and the archive tool.
WRITE = [
    "store",
    "core",
    "tail",
    "worker",
    "backend",
    "hotpath",
    "writer",
    "export",
    "tsa",
    "native",
    "commit",
    "session_commit",
    "redactor",
    "keys",
    "provenance",
    "archive",
]
READ = [
    "chain",
    "findings",
    "checkpoint_time",
    "key_schedule",
    "timestamps",
    "display",
    "sessions",
    "verify",
    "chunk_reader",
]
REPORT: list[str] = [
    "report_rows",
    "report_aggregate",
    "report_pii",
    "report_scan",
    "report_sample",
    "report_controls",
    "report_figures",
    "report_read",
    "report_render",
    "report_check",
]
# Pure: no event loop, network, process or lock library (file reads are allowed).
PURE = [
    *(f"format.{m}" for m in FORMAT),
    *(f"read.{m}" for m in READ if m != "verify"),
    *(f"read.{m}" for m in REPORT if m not in {"report_read", "report_render"}),
    "write.commit",
    "write.session_commit",
    "write.native",
]
IO = {"anyio", "asyncio", "socket", "ssl", "subprocess", "fcntl", "shutil", "threading", "httpx"}


def imports(module: str) -> set[str]:
    """Fully qualified names ``side.module`` imports (absolute imports only, as the code uses)."""
    side, name = module.split(".")
    tree = ast.parse((PACKAGE / side / f"{name}.py").read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{module}.py uses a relative import"
            if node.module.removeprefix("regogate.recording.") in SIDES:
                out |= {f"{node.module}.{a.name}" for a in node.names}
            else:
                out.add(node.module)
    return out


def closure(module: str) -> set[str]:
    """Everything outside the recording package that ``module`` reaches."""
    seen, todo, outside = set(), [module], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for imp in imports(name):
            if imp.startswith("regogate.recording."):
                todo.append(imp.removeprefix("regogate.recording."))
            else:
                outside.add(imp)
    return outside


def recording_imports(module: str) -> set[str]:
    """The recording modules ``module`` imports, as ``side.module``."""
    return {
        imp.removeprefix("regogate.recording.")
        for imp in imports(module)
        if imp.startswith("regogate.recording.")
    }


def test_every_module_is_classified() -> None:
    found = {side: {p.stem for p in (PACKAGE / side).glob("*.py")} - {"__init__"} for side in SIDES}
    assert found == {"format": set(FORMAT), "write": set(WRITE), "read": {*READ, *REPORT}}
    assert {p.name for p in PACKAGE.glob("*.py")} == {"__init__.py"}


@pytest.mark.parametrize("module", [f"format.{m}" for m in FORMAT])
def test_the_format_imports_neither_side(module: str) -> None:
    assert {m.split(".")[0] for m in recording_imports(module)} <= {"format"}


@pytest.mark.parametrize("module", [f"read.{m}" for m in [*READ, *REPORT]])
def test_the_read_side_never_imports_the_write_side(module: str) -> None:
    assert {m.split(".")[0] for m in recording_imports(module)} <= {"format", "read"}
    assert not any(m.startswith("regogate.recording.write") for m in closure(module))


@pytest.mark.parametrize("module", PURE)
def test_the_core_is_pure(module: str) -> None:
    outside = closure(module)
    assert not {m.split(".")[0] for m in outside} & IO, sorted(outside)


def test_only_the_writer_uses_anyio() -> None:
    users = {
        f"{side}.{p.stem}"
        for side in SIDES
        for p in (PACKAGE / side).glob("*.py")
        if p.stem != "__init__" and "anyio" in closure(f"{side}.{p.stem}")
    }
    assert users == {"write.writer", "write.backend", "write.export", "write.tsa"}


def test_the_writer_process_runs_without_an_event_loop() -> None:
    # The child is plain blocking code: no anyio, no asyncio, no threads.
    top = {m.split(".")[0] for m in closure("write.worker")}
    assert not top & {"anyio", "asyncio", "threading"}


def test_the_verifier_needs_only_cryptography_rfc8785_and_orjson() -> None:
    top = {m.split(".")[0] for m in closure("read.verify")}
    third_party = {m for m in top if m not in sys.stdlib_module_names}
    # rfc3161_client (the tsa extra) is imported only to check RFC 3161 tokens
    assert third_party - {"rfc3161_client", "regogate"} == {"cryptography", "rfc8785", "orjson"}
    assert {m for m in closure("read.verify") if m.startswith("regogate.")} <= {"regogate.errors"}


def test_the_report_renders_with_jinja2_alone() -> None:
    # The report adds only the template engine (and the pdf extra's WeasyPrint, imported
    # only for PDF output) to what the verifier needs.
    top = {m.split(".")[0] for m in closure("read.report_render")}
    third_party = {m for m in top if m not in sys.stdlib_module_names}
    assert third_party - {"rfc3161_client"} <= {
        "cryptography",
        "rfc8785",
        "orjson",
        "jinja2",
        "markupsafe",
        "weasyprint",
        "regogate",
    }
