"""The real tools the deployment tests run: `helm template` renders the chart, kubeconform
validates manifests against the vendored Kubernetes schemas (no network). A missing tool
fails the test: scripts/setup.sh installs both (CI runs it first), never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "regogate"
SCHEMAS = Path(__file__).parent / "schemas"
KUBERNETES_SCHEMAS = SCHEMAS / "kubernetes"
# kubeconform's own path template, under our directory instead of its default URL
SCHEMA_LOCATION = str(
    KUBERNETES_SCHEMAS
    / "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}"
    / "{{ .ResourceKind }}{{ .KindSuffix }}.json"
)
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")  # the chart's oldest, and the newest vendored

Manifest = dict[str, object]


def tool(name: str) -> str:
    """The path of a Go-built tool: on PATH or in Go's bin directory (scripts/setup.sh)."""
    gopath = os.environ.get("GOPATH") or str(Path.home() / "go")
    for candidate in (shutil.which(name), str(Path(gopath) / "bin" / name)):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail(f"{name} is not installed: run scripts/setup.sh (make setup), which builds it")


def run(args: Sequence[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def helm_template(
    values: Mapping[str, object] | None = None,
    *,
    tmp: Path,
    kube_version: str = KUBERNETES_VERSIONS[0],
    chart: Path = CHART,
    show_only: str | None = None,
) -> str:
    """The chart rendered by the real `helm template` (release "rg", namespace "gw")."""
    args = [tool("helm"), "template", "rg", str(chart), "--namespace", "gw"]
    args += ["--kube-version", kube_version]
    if values is not None:
        values_file = tmp / "values.json"  # JSON is YAML: helm reads it as a values file
        values_file.write_text(json.dumps(values))
        args += ["--values", str(values_file)]
    if show_only is not None:
        args += ["--show-only", show_only]
    p = run(args)
    assert p.returncode == 0, p.stderr
    return p.stdout


def manifests(text: str) -> list[Manifest]:
    return [cast(Manifest, doc) for doc in yaml.safe_load_all(text) if doc]


def kubeconform(text: str, kube_version: str) -> dict[str, object]:
    """kubeconform's JSON report on ``text``: strict (no unknown fields), our schemas
    only, a missing schema an error (never skipped)."""
    p = run(
        [
            tool("kubeconform"),
            "-strict",
            "-summary",
            "-output",
            "json",
            "-kubernetes-version",
            kube_version,
            "-schema-location",
            SCHEMA_LOCATION,
            "-",
        ],
        stdin=text,
    )
    assert p.stdout, p.stderr
    report = cast(dict[str, object], json.loads(p.stdout))
    report["exit"] = p.returncode
    return report


def kinds(docs: Sequence[Manifest]) -> dict[str, Manifest]:
    """Rendered objects by kind (the chart renders at most one of each, but for the
    PersistentVolumeClaims: see ``claims``)."""
    out: dict[str, Manifest] = {}
    for doc in docs:
        kind = str(doc["kind"])
        if kind == "PersistentVolumeClaim":
            continue
        assert kind not in out, f"two {kind} objects"
        out[kind] = doc
    return out


def claims(docs: Sequence[Manifest]) -> dict[str, Manifest]:
    """Rendered PersistentVolumeClaims by name."""
    return {
        str(doc["metadata"]["name"]): doc  # type: ignore[index]
        for doc in docs
        if doc["kind"] == "PersistentVolumeClaim"
    }


def at(doc: object, *path: str | int) -> object:
    """``doc[path[0]][path[1]]...``: a nested field of a parsed manifest."""
    for key in path:
        if isinstance(key, int):
            assert isinstance(doc, list), (path, doc)
            doc = doc[key]
        else:
            assert isinstance(doc, dict), (path, doc)
            doc = doc[key]
    return doc


def items(doc: object, *path: str | int) -> list[dict[str, object]]:
    """A list of objects at ``path`` ([] when the field is absent)."""
    try:
        value = at(doc, *path)
    except KeyError:
        return []
    assert isinstance(value, list), (path, value)
    return [cast(dict[str, object], v) for v in value]
