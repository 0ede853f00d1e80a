"""The Helm chart (deploy/helm/regogate), rendered by the real `helm template` and
checked by kubeconform against the vendored Kubernetes schemas, then held to the
deployment's security properties: non-root, read-only root filesystem, no capabilities,
no privilege escalation, Secrets referenced and never rendered, OPA without a port, and a
regogate.toml that regogate's own config loader accepts.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path
from typing import cast

import jsonschema
import pytest

from regogate.config import parse_config
from tests.deploy.kube import (
    CHART,
    KUBERNETES_SCHEMAS,
    KUBERNETES_VERSIONS,
    Manifest,
    at,
    claims,
    helm_template,
    items,
    kinds,
    kubeconform,
    manifests,
)

# Every option that changes what is rendered, at once.
FULL: dict[str, object] = {
    "server": {"gatewayId": "gw-prod", "maxSessions": 200},
    "tokens": {"secretName": "gw-tokens"},
    "metrics": {"enabled": True},
    "oidc": [
        {
            "issuer": "https://idp.example.com/realms/bank",
            "audience": ["regogate", "regogate-ci"],
            "groups_claim": "groups",
            "leeway": 10,
        }
    ],
    "connections": {
        "bank": {"passwordSecret": {"name": "bank-pw"}},
        "ledger_eu": {
            "host": "db.internal",
            "port": 5433,
            "database": "ledger",
            "user": "regogate",
            "tls": "verify-full",
            "caSecret": {"name": "db-ca", "key": "ca.pem"},
            "passwordSecret": {"name": "ledger-pw", "key": "pw"},
        },
    },
    "recording": {
        "persistence": {"existingClaim": "recordings-claim"},
        "checkpointExport": ["https://witness.example/add-checkpoint"],
    },
    "networkPolicy": {
        "from": [{"namespaceSelector": {"matchLabels": {"team": "data"}}}],
        "metricsFrom": [{"podSelector": {"matchLabels": {"app": "prometheus"}}}],
    },
    "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "250m", "memory": "256Mi"}},
    "policy": {"dir": "/etc/regogate/policies"},
    "extraVolumes": [{"name": "policies", "configMap": {"name": "my-policies"}}],
    "extraVolumeMounts": [
        {"name": "policies", "mountPath": "/etc/regogate/policies", "readOnly": True}
    ],
}
CASES = {"defaults": None, "full": FULL}
GATEWAY_PORTS = {"defaults": {6432}, "full": {6432, 9187}}


@pytest.fixture(scope="module", params=sorted(CASES))
def rendered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, list[Manifest]]:
    case = str(request.param)
    text = helm_template(CASES[case], tmp=tmp_path_factory.mktemp(case))
    return case, manifests(text)


def pod(docs: list[Manifest]) -> dict[str, object]:
    return cast(dict[str, object], at(kinds(docs)["Deployment"], "spec", "template", "spec"))


def containers(docs: list[Manifest]) -> list[dict[str, object]]:
    spec = pod(docs)
    return items(spec, "initContainers") + items(spec, "containers")


def config_toml(docs: list[Manifest]) -> str:
    return str(at(kinds(docs)["ConfigMap"], "data", "regogate.toml"))


# -- schema validation ----------------------------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_manifest_is_valid_for_kubernetes(
    case: str, kube_version: str, tmp_path: Path
) -> None:
    text = helm_template(CASES[case], tmp=tmp_path, kube_version=kube_version)
    report = kubeconform(text, kube_version)
    resources = cast(list[dict[str, object]], report["resources"])
    assert report["exit"] == 0, json.dumps(resources, indent=1)
    summary = cast(dict[str, int], report["summary"])
    # each object validated: none skipped, none without a schema
    assert summary == {"valid": len(manifests(text)), "invalid": 0, "errors": 0, "skipped": 0}


@pytest.mark.parametrize("kube_version", KUBERNETES_VERSIONS)
def test_a_second_validator_agrees(rendered: tuple[str, list[Manifest]], kube_version: str) -> None:
    """Python's jsonschema, on the same vendored schemas, finds no error either."""
    _, docs = rendered
    for doc in docs:
        api = str(doc["apiVersion"])
        group_version = api.split("/")
        suffix = "-".join([group_version[0].split(".")[0], *group_version[1:]])
        name = f"{str(doc['kind']).lower()}-{suffix}.json"
        schema = json.loads(
            (KUBERNETES_SCHEMAS / f"v{kube_version}-standalone-strict" / name).read_text()
        )
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
        assert errors == [], (doc["kind"], [e.message for e in errors])


def test_the_validator_is_not_lenient(tmp_path: Path) -> None:
    """A wrong type, an unknown field and a kind without a vendored schema all fail."""
    docs = manifests(helm_template(tmp=tmp_path))
    deployment = kinds(docs)["Deployment"]
    container = items(deployment, "spec", "template", "spec", "containers")[0]
    cast(dict[str, object], container["securityContext"])["runAsNonRoot"] = "yes"
    service = kinds(docs)["Service"]
    cast(dict[str, object], service["spec"])["clusterIPz"] = "None"
    pod_doc: Manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    text = "---\n".join(json.dumps(d) + "\n" for d in (deployment, service, pod_doc))
    report = kubeconform(text, KUBERNETES_VERSIONS[0])
    assert report["exit"] != 0
    status = {
        str(r["kind"]): str(r["status"]) for r in cast(list[dict[str, object]], report["resources"])
    }
    assert status == {
        "Deployment": "statusInvalid",
        "Service": "statusInvalid",
        "Pod": "statusError",  # no schema: an error, not a skip
    }


# -- security properties --------------------------------------------------------------------


def test_pod_runs_as_non_root(rendered: tuple[str, list[Manifest]]) -> None:
    _, docs = rendered
    spec = pod(docs)
    sc = cast(dict[str, object], spec["securityContext"])
    assert sc["runAsNonRoot"] is True
    # the image's numeric user (Dockerfile), as in compose.yaml
    assert sc["runAsUser"] == sc["runAsGroup"] == sc["fsGroup"] == 10001
    assert at(sc, "seccompProfile", "type") == "RuntimeDefault"
    for forbidden in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(forbidden), forbidden
    assert spec["automountServiceAccountToken"] is False
    assert not any("hostPath" in v for v in items(spec, "volumes"))


def test_every_container_is_locked_down(rendered: tuple[str, list[Manifest]]) -> None:
    _, docs = rendered
    found = containers(docs)
    assert {c["name"] for c in found} == {"signing-key", "regogate"}
    for c in found:
        sc = cast(dict[str, object], c["securityContext"])
        assert sc["runAsNonRoot"] is True, c["name"]
        assert sc["runAsUser"] == 10001, c["name"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["privileged"] is False, c["name"]
        assert at(sc, "capabilities", "drop") == ["ALL"], c["name"]
        assert "add" not in cast(dict[str, object], sc["capabilities"]), c["name"]


def test_what_is_written_goes_to_volumes(rendered: tuple[str, list[Manifest]]) -> None:
    """Read-only root: /tmp (OPA's socket, the assembled config) is a memory emptyDir, the
    key a memory emptyDir, recordings a PersistentVolumeClaim."""
    case, docs = rendered
    spec = pod(docs)
    volumes = {str(v["name"]): v for v in items(spec, "volumes")}
    gateway = items(spec, "containers")[0]
    mounts = {str(m["mountPath"]): m for m in items(gateway, "volumeMounts")}
    assert at(volumes[str(mounts["/tmp"]["name"])], "emptyDir", "medium") == "Memory"
    keys = mounts["/var/lib/regogate/keys"]
    assert keys["readOnly"] is True
    assert at(volumes[str(keys["name"])], "emptyDir", "medium") == "Memory"
    recordings = volumes[str(mounts["/var/lib/regogate/recordings"]["name"])]
    claim = at(recordings, "persistentVolumeClaim", "claimName")
    made = claims(docs)
    if case == "full":
        assert claim == "recordings-claim" and claim not in made
    else:
        assert claim in made
        assert at(made[claim], "metadata", "annotations", "helm.sh/resource-policy") == "keep"
    # the checkpoint anchor: a claim of its own, outside the recordings, kept too
    anchor = mounts["/var/lib/regogate/anchor"]
    assert anchor.get("readOnly") is not True
    anchor_claim = at(volumes[str(anchor["name"])], "persistentVolumeClaim", "claimName")
    assert anchor_claim != claim and anchor_claim in made
    assert at(made[anchor_claim], "metadata", "annotations", "helm.sh/resource-policy") == "keep"
    config = str(at(kinds(docs)["ConfigMap"], "data", "regogate.toml"))
    assert 'checkpoint_anchor = "/var/lib/regogate/anchor/checkpoint.note"' in config
    # one writer per recording directory
    deployment = kinds(docs)["Deployment"]
    assert at(deployment, "spec", "replicas") == 1
    assert at(deployment, "spec", "strategy", "type") == "Recreate"


_SECRETISH = re.compile(r"password|token|secret|key", re.IGNORECASE)


def test_no_secret_is_rendered(rendered: tuple[str, list[Manifest]]) -> None:
    case, docs = rendered
    assert "Secret" not in kinds(docs)
    toml = config_toml(docs)
    assert "token_sha256" not in toml
    assert not re.search(r"^\s*password\s*=", toml, re.MULTILINE)
    for c in containers(docs):
        for env in items(c, "env"):
            if _SECRETISH.search(str(env["name"])) and "value" in env:
                # a file reference, never the secret itself
                assert str(env["value"]).startswith("/run/secrets/"), env
        assert "envFrom" not in c
    # the Secrets it mounts, by name
    secrets = {
        str(at(v, "secret", "secretName")) for v in items(pod(docs), "volumes") if "secret" in v
    }
    expected = {
        "defaults": {"rg-regogate-tls", "rg-regogate-recording-key", "rg-regogate-upstream-bank"},
        "full": {
            "rg-regogate-tls",
            "rg-regogate-recording-key",
            "bank-pw",
            "ledger-pw",
            "db-ca",
            "gw-tokens",
        },
    }
    assert secrets == expected[case]
    for v in items(pod(docs), "volumes"):
        if "secret" in v:  # group-readable (fsGroup), never by others
            assert int(cast(int, at(v, "secret", "defaultMode"))) & 0o007 == 0, v


def test_opa_has_no_port(rendered: tuple[str, list[Manifest]]) -> None:
    case, docs = rendered
    ports = {
        int(cast(int, p["containerPort"])) for c in containers(docs) for p in items(c, "ports")
    }
    assert ports == GATEWAY_PORTS[case]
    service_ports = {
        int(cast(int, p["port"])) for p in items(kinds(docs)["Service"], "spec", "ports")
    }
    assert service_ports == GATEWAY_PORTS[case]
    policy = tomllib.loads(config_toml(docs))["policy"]
    assert "opa_url" not in policy  # the sidecar, on a unix socket under /tmp
    policy_rules = items(kinds(docs)["NetworkPolicy"], "spec", "ingress")
    allowed = {str(p["port"]) for rule in policy_rules for p in items(rule, "ports")}
    assert allowed == {"defaults": {"postgresql"}, "full": {"postgresql", "metrics"}}[case]


def test_listener_serves_tls_only(rendered: tuple[str, list[Manifest]]) -> None:
    _, docs = rendered
    server = tomllib.loads(config_toml(docs))["server"]
    assert server["cleartext_without_tls"] == "never"
    assert server["tls_cert_file"] == "/var/lib/regogate/tls/tls.crt"
    gateway = items(pod(docs), "containers")[0]
    tls = [m for m in items(gateway, "volumeMounts") if m["mountPath"] == "/var/lib/regogate/tls"]
    assert tls and tls[0]["readOnly"] is True


def test_config_is_accepted_by_regogate(
    rendered: tuple[str, list[Manifest]], tmp_path: Path
) -> None:
    """The ConfigMap's regogate.toml through regogate's own loader, its absolute paths
    moved under a scratch root holding the files the pod would mount there."""
    case, docs = rendered
    root = tmp_path / "root"
    text = config_toml(docs)
    for path in re.findall(r'= "(/[^"]*)"', text):
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.endswith(("/rego", "/policies")):
            target.mkdir(parents=True, exist_ok=True)
        elif not path.startswith("/var/lib/regogate/recordings"):
            target.write_text("x\n")
    config = parse_config(
        re.sub(r'= "/', f'= "{root}/', text), origin="configmap", env={}, base=tmp_path
    )
    assert config.server.tls_cert_file == root / "var/lib/regogate/tls/tls.crt"
    assert config.policy.opa_url is None
    assert config.recording.enabled
    if case == "full":
        assert sorted(config.connections) == ["bank", "ledger_eu"]
        assert config.connections["ledger_eu"].tls == "verify-full"
        assert config.oidc[0].audiences == ("regogate", "regogate-ci")
        assert config.server.metrics_listen == "0.0.0.0:9187"


def test_notes_name_every_secret_to_create(tmp_path: Path) -> None:
    """NOTES.txt rendered (helm renders it only on install: here through a named template
    in a copy of the chart)."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "_notes_under_test.tpl").write_text(
        '{{- define "notes-under-test" -}}\n' + notes + "{{- end -}}\n"
    )
    (chart / "templates" / "notes-under-test.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        'data:\n  notes: {{ include "notes-under-test" . | toJson }}\n'
    )
    text = helm_template(
        FULL, tmp=tmp_path, chart=chart, show_only="templates/notes-under-test.yaml"
    )
    rendered_notes = str(at(manifests(text)[0], "data", "notes"))
    for secret in (
        "rg-regogate-tls",
        "rg-regogate-recording-key",
        "bank-pw",
        "ledger-pw",
        "gw-tokens",
        "db-ca",
    ):
        assert f"create secret generic {secret}" in rendered_notes or (
            f"create secret tls {secret}" in rendered_notes
        ), secret
    assert "sslmode=require" in rendered_notes
