"""Which recording module may touch what: a pure core, one async writer, a lean verifier."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "regogate" / "recording"
PURE = [
    "jcs",
    "merkle",
    "note",
    "checkpoint",
    "checkpoint_time",
    "timestamps",
    "records",
    "layout",
    "chain",
    "findings",
    "proof",
    "commit",
    "sessions",
    "native",
    "display",
    "key_history",
    "key_schedule",
    "key_info",
    "mac",
]
# The write side: the store, the log core that feeds it, the writer process around the
# core, the event loop's hot path (frames, their queue, result summaries), and the
# gateway-facing recorder with its backends.
WRITE_SIDE = ["store", "core", "tail", "worker", "backend", "hotpath", "writer", "export", "tsa"]
# the gateway's side of commitments: the shared redaction cache (threads), per session
GATEWAY_SIDE = ["redactor", "session_commit"]
IO = {"anyio", "asyncio", "socket", "ssl", "subprocess", "fcntl", "shutil", "threading"}


def imports(module: str) -> set[str]:
    """Fully qualified names a module imports (absolute imports only, as the code uses)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{module}.py uses a relative import"
            if node.module == "regogate.recording":
                out |= {f"regogate.recording.{a.name}" for a in node.names}
            else:
                out.add(node.module)
    return out


def closure(module: str) -> set[str]:
    seen, todo, outside = set(), [module], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for imp in imports(name):
            if imp.startswith("regogate.recording."):
                todo.append(imp.rsplit(".", 1)[1])
            else:
                outside.add(imp)
    return outside


def test_every_module_is_classified() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    # keys and provenance read files (the key, the installed package) and nothing else
    # archive moves files (regogate archive): a tool, like keys
    tools = {"keys", "verify", "provenance", "archive"}
    assert modules == {*PURE, *WRITE_SIDE, *GATEWAY_SIDE, *tools}


@pytest.mark.parametrize("module", PURE)
def test_the_core_is_pure(module: str) -> None:
    outside = closure(module)
    assert not {m.split(".")[0] for m in outside} & IO, sorted(outside)
    edges = {f"regogate.recording.{m}" for m in [*WRITE_SIDE, "keys"]}
    assert not imports(module) & {*edges, "regogate.recording.verify"}


def test_only_the_writer_uses_anyio() -> None:
    users = {p.stem for p in PACKAGE.glob("*.py") if "anyio" in closure(p.stem)}
    assert users == {"writer", "backend", "export", "tsa"}


def test_the_writer_process_runs_without_an_event_loop() -> None:
    # The child is plain blocking code: no anyio, no asyncio, no threads.
    assert not {m.split(".")[0] for m in closure("worker")} & {"anyio", "asyncio", "threading"}


def test_the_verifier_needs_only_cryptography_rfc8785_and_orjson() -> None:
    top = {m.split(".")[0] for m in closure("verify")}
    third_party = {m for m in top if m not in sys.stdlib_module_names}
    # rfc3161_client (the tsa extra) is imported only to check RFC 3161 tokens
    assert third_party - {"rfc3161_client"} == {"cryptography", "rfc8785", "orjson", "regogate"}
    assert {m for m in closure("verify") if m.startswith("regogate.")} == {"regogate.errors"}
