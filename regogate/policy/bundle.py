"""Reading the policy directory (policies/rego): modules, data documents and a revision.

The revision names exactly what is loaded: a SHA-256 over every file's path and bytes,
plus the git commit of the directory when there is one.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from regogate.errors import ConfigError


@dataclass(frozen=True)
class PolicyBundle:
    root: Path
    modules: dict[str, str]  # policy id (relative path) -> Rego text
    data: dict[str, object]  # data path ("a/b") -> document
    digest: str
    git_commit: str | None

    @cached_property
    def revision(self) -> str:
        short = self.digest[:16]
        return f"sha256:{short}" + (f"@git:{self.git_commit[:12]}" if self.git_commit else "")


def _git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%H", "--", "."],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit or None


def fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    """Cheap change detector: (path, size, mtime_ns) of every policy file."""
    items = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and (p.suffix == ".rego" or p.name == "data.json"):
            st = p.stat()
            items.append((str(p.relative_to(root)), st.st_size, st.st_mtime_ns))
    return tuple(items)


def load_bundle(root: Path) -> PolicyBundle:
    if not root.is_dir():
        raise ConfigError(f"policy directory {root} does not exist")
    h = hashlib.sha256()
    modules: dict[str, str] = {}
    data: dict[str, object] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(root).as_posix()
        if p.suffix == ".rego":
            if p.name.endswith("_test.rego"):
                continue
            text = p.read_text()
            modules[rel] = text
        elif p.name == "data.json":
            raw = p.read_text()
            try:
                doc = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"policy data file {p}: invalid JSON: {exc}") from None
            data[p.parent.relative_to(root).as_posix().strip(".")] = doc
            text = raw
        else:
            continue
        h.update(rel.encode() + b"\0" + text.encode() + b"\0")
    if not modules:
        raise ConfigError(f"policy directory {root} has no .rego modules")
    return PolicyBundle(root, modules, data, h.hexdigest(), _git_commit(root))
