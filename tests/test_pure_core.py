"""The core does no I/O: pure modules import no event loop, network or process library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "regogate"
# Recording edges: the anyio writer, its backends (a writer process or a thread), the
# verifier's worker processes, and the report's reader (the verifier's workers, a
# progress bar) and renderer (templates from disk).
EDGES = {
    "writer.py",
    "backend.py",
    "verify.py",
    "export.py",
    "tsa.py",
    "report_read.py",
    "report_render.py",
}
PURE = [
    *sorted((ROOT / "wire").glob("*.py")),
    ROOT / "errors.py",
    ROOT / "identity.py",
    ROOT / "proxy" / "hooks.py",
    ROOT / "proxy" / "deny.py",
    ROOT / "proxy" / "cancel.py",
    ROOT / "proxy" / "admission.py",
    ROOT / "policy" / "decision.py",
    ROOT / "policy" / "cache.py",
    ROOT / "policy" / "catalog.py",
    ROOT / "policy" / "catalog_sql.py",
    ROOT / "policy" / "catalog_rows.py",
    ROOT / "policy" / "catalog_lineage.py",
    ROOT / "policy" / "catalog_source.py",
    ROOT / "policy" / "sqltext.py",
    *sorted((ROOT / "policy").glob("facts*.py")),
    *sorted(p for p in (ROOT / "recording").rglob("*.py") if p.name not in EDGES),
]
FORBIDDEN = {"anyio", "asyncio", "httpx", "socket", "ssl", "subprocess", "uvloop", "psycopg"}


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN, f"{path.name} imports {sorted(imported & FORBIDDEN)}"
