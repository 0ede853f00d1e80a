"""Regenerates the JSON schemas vendored in tests/deploy/schemas (docs/decisions/0013).

Kubernetes: the strict schemas of the PyPI package kubernetes-validate, made standalone
(every ``$ref`` into its shared ``_definitions.json`` inlined as a local ``$defs`` entry,
descriptions dropped) so that kubeconform reads them from disk with no network. Compose:
the schema the Compose loader itself embeds (Go module compose-spec/compose-go).

    python -m tests.deploy.vendor_schemas        # needs pip and go; rewrites the files
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import cast

KUBERNETES_VALIDATE = "1.37.0"
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")  # the chart's oldest supported, and the newest
# what the chart renders: kubeconform's file names (kind, then group and version)
KINDS = (
    "configmap-v1",
    "deployment-apps-v1",
    "networkpolicy-networking-v1",
    "persistentvolumeclaim-v1",
    "service-v1",
    "serviceaccount-v1",
)
COMPOSE_GO = "v2.17.0"

SCHEMAS = Path(__file__).parent / "schemas"
# how the kind files point into _definitions.json, and how its entries point at each other
_DEFS = ("/api/_definitions.json#/$defs/", "#/$defs/")

Json = dict[str, object] | list[object] | str | int | float | bool | None


def _strip(node: Json, refs: set[str]) -> Json:
    """``node`` without descriptions, its definition references made local (collected)."""
    if isinstance(node, list):
        return [_strip(cast(Json, item), refs) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, object] = {}
    for key, value in node.items():
        if key == "description" and isinstance(value, str):
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith(_DEFS):
            name = value.split("/$defs/", 1)[1]
            refs.add(name)
            out[key] = f"#/$defs/{name}"
        elif key == "properties" and isinstance(value, dict):
            # property names are data here, never keywords (a field may be called
            # "description")
            props = cast(dict[str, Json], value)
            out[key] = {name: _strip(schema, refs) for name, schema in props.items()}
        else:
            out[key] = _strip(cast(Json, value), refs)
    return out


def standalone(schema: dict[str, object], definitions: dict[str, object]) -> dict[str, object]:
    """One kind's schema with every definition it reaches in its own ``$defs``."""
    refs: set[str] = set()
    root = cast(dict[str, object], _strip(schema, refs))
    root.pop("$id", None)  # its references are local now: nothing to resolve against
    defs: dict[str, object] = {}
    todo = sorted(refs)
    while todo:
        name = todo.pop()
        if name in defs:
            continue
        found: set[str] = set()
        defs[name] = _strip(cast(Json, definitions[name]), found)
        todo += sorted(found - set(defs))
    root["$defs"] = dict(sorted(defs.items()))
    return root


def write_json(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, sort_keys=True, indent=1) + "\n")


def vendor_kubernetes(wheel: Path) -> None:
    prefix = "kubernetes_validate/kubernetes-json-schema"
    with zipfile.ZipFile(wheel) as z:
        for version in KUBERNETES_VERSIONS:
            src = f"{prefix}/v{version}-local-strict"
            shared = json.loads(z.read(f"{src}/_definitions.json"))
            definitions = cast(dict[str, object], shared["$defs"])
            for kind in KINDS:
                schema = json.loads(z.read(f"{src}/{kind}.json"))
                out = SCHEMAS / "kubernetes" / f"v{version}-standalone-strict" / f"{kind}.json"
                write_json(out, standalone(schema, definitions))


def vendor_compose() -> None:
    module = f"github.com/compose-spec/compose-go/v2@{COMPOSE_GO}"
    # the module's go directive may be newer than the local toolchain: only its zip is used
    info = subprocess.run(
        ["go", "mod", "download", "-json", module],
        capture_output=True,
        text=True,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    zip_path = json.loads(info.stdout)["Zip"]
    with zipfile.ZipFile(zip_path) as z:
        schema = json.loads(z.read(f"{module}/schema/compose-spec.json"))
    write_json(SCHEMAS / "compose-spec.json", schema)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                f"kubernetes-validate=={KUBERNETES_VALIDATE}",
                "-d",
                tmp,
            ],
            check=True,
        )
        (wheel,) = Path(tmp).glob("kubernetes_validate-*.whl")
        vendor_kubernetes(wheel)
    vendor_compose()


if __name__ == "__main__":
    main()
