"""compose.yaml and the Dockerfile, checked statically (no Docker engine is needed):
compose.yaml against the Compose schema and the deployment's security properties, the
Dockerfile's final stage (non-root numeric USER before ENTRYPOINT, no secret in ENV/ARG),
the committed deploy files free of secrets, and generate-secrets.sh's output.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import jsonschema
import pytest
import yaml

from regogate.config import parse_config
from regogate.identity import token_sha256
from tests.deploy.kube import CHART, ROOT, SCHEMAS, at

COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_CONFIG = ROOT / "deploy" / "compose" / "regogate.toml"
SECRETS_DIR = "deploy/compose/secrets"
GENERATE_SECRETS = ROOT / "deploy" / "compose" / "generate-secrets.sh"
UID = 10001  # the image's user (Dockerfile), compose's and the chart's

_SECRETISH = re.compile(r"password|token|secret|private|_key\b|signing", re.IGNORECASE)


def compose() -> dict[str, object]:
    return cast(dict[str, object], yaml.safe_load(COMPOSE.read_text()))


def services() -> dict[str, dict[str, object]]:
    return cast(dict[str, dict[str, object]], compose()["services"])


def test_compose_file_matches_the_compose_schema() -> None:
    """The schema Compose's own loader embeds (compose-spec/compose-go, vendored)."""
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(compose()))
    assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors]
    broken = compose()  # and it is not lenient: a misspelt key fails
    broken["services"] = {**services(), "regogate": {**services()["regogate"], "read_onlyy": True}}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


@pytest.mark.parametrize("name", ["postgres", "init", "regogate"])
def test_every_service_is_locked_down(name: str) -> None:
    service = services()[name]
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "cap_add" not in service
    assert not service.get("privileged")
    assert "no-new-privileges:true" in cast(list[str], service["security_opt"])
    user = str(service["user"])
    assert user.split(":", maxsplit=1)[0] not in {"", "0", "root"}
    if name != "postgres":
        assert user == f"{UID}:{UID}"
    for forbidden in ("pid", "ipc", "devices", "volumes_from"):
        assert forbidden not in service, forbidden
    assert service.get("network_mode") in (None, "none")


def test_gateway_writes_only_to_tmpfs_and_volumes() -> None:
    gateway = services()["regogate"]
    assert "/tmp" in cast(list[str], gateway["tmpfs"])  # OPA's socket, the assembled config
    mounts = {m.split(":")[1]: m for m in cast(list[str], gateway["volumes"])}
    assert mounts["/var/lib/regogate/recordings"].startswith("recordings:")
    # the checkpoint anchor: writable, and not inside the recordings (issue 23)
    assert mounts["/var/lib/regogate/anchor"] == "anchor:/var/lib/regogate/anchor"
    toml = COMPOSE_CONFIG.read_text()
    assert 'checkpoint_anchor = "/var/lib/regogate/anchor/' in toml
    for read_only in (
        "/var/lib/regogate/keys",
        "/var/lib/regogate/tls",
        "/etc/regogate/regogate.toml",
        "/etc/regogate/policies",
    ):
        assert mounts[read_only].endswith(":ro"), read_only
    init = services()["init"]
    assert init["command"] == ["init"]
    assert at(gateway, "depends_on", "init", "condition") == "service_completed_successfully"


def test_only_the_gateway_is_published_and_opa_has_no_port() -> None:
    published = {
        name: [str(p) for p in cast(list[object], s.get("ports", []))]
        for name, s in services().items()
    }
    assert published == {"postgres": [], "init": [], "regogate": ["6432:6432"]}
    for name, service in services().items():
        assert "expose" not in service, name
        assert "opa" not in str(service.get("image", "")), name
    text = COMPOSE_CONFIG.read_text()
    assert "opa_url" not in text  # the sidecar inside the gateway: a unix socket
    assert re.search(r'^opa_binary = "/usr/local/bin/opa"$', text, re.MULTILINE)
    # PostgreSQL only on the internal network: the gateway is the way in
    networks = cast(dict[str, dict[str, object]], compose()["networks"])
    assert services()["postgres"]["networks"] == ["backend"]
    assert networks["backend"]["internal"] is True


def test_secrets_come_from_compose_secrets() -> None:
    declared = cast(dict[str, dict[str, str]], compose()["secrets"])
    for name, secret in declared.items():
        assert set(secret) == {"file"}, name
        assert secret["file"].startswith(f"./{SECRETS_DIR}/"), name
    for name, service in services().items():
        for used in cast(list[str], service.get("secrets", [])):
            assert used in declared, (name, used)
        env = cast(dict[str, str], service.get("environment", {}))
        for key, value in env.items():
            if _SECRETISH.search(key):
                assert key.endswith(("_FILE", "_FILES")), (name, key)
                assert value.startswith("/run/secrets/"), (name, key)
    assert set(cast(list[str], services()["regogate"]["secrets"])) == {
        "upstream_password",
        "regogate_tokens",
    }
    # the generated files are neither committed nor sent to the image build
    ignore = (ROOT / SECRETS_DIR / ".gitignore").read_text().split()
    assert ignore[ignore.index("*") :] == ["*", "!.gitignore"]
    assert SECRETS_DIR in (ROOT / ".dockerignore").read_text().split()


def committed_deploy_files() -> list[Path]:
    files = [COMPOSE, DOCKERFILE, ROOT / "README.md"]
    for base in (ROOT / "deploy", CHART):
        files += [p for p in base.rglob("*") if p.is_file() and SECRETS_DIR not in str(p)]
    return sorted(set(files))


def test_no_secret_is_committed() -> None:
    problems = []
    for path in committed_deploy_files():
        text = path.read_text()
        where = path.relative_to(ROOT)
        if re.search(r"\b[0-9a-f]{64}\b", text):
            problems.append(f"{where}: a 64-hex value (a token hash?)")
        if "PRIVATE KEY-----" in text:
            problems.append(f"{where}: a private key")
        toml_like = path.suffix in {".toml", ".md", ".yaml", ".tpl", ".txt"}
        if toml_like and re.search(
            r'^\s*(password|token|signing_key|key)\s*=\s*"[^"…]+"', text, re.M
        ):
            problems.append(f"{where}: a secret in TOML")
        if re.search(r"POSTGRES_PASSWORD\s*[:=]\s*\S", text):
            problems.append(f"{where}: POSTGRES_PASSWORD set directly (use _FILE)")
    assert problems == []


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions (continuation lines joined), one list per stage."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[Instruction]] = []
    for text in logical:
        keyword, _, args = text.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append(Instruction(keyword.upper(), args.strip()))
    return stages


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    final = dockerfile_stages()[-1]
    keywords = [i.keyword for i in final]
    users = [i.args for i in final if i.keyword == "USER"]
    assert users == [f"{UID}:{UID}"]  # numeric: Kubernetes' runAsNonRoot can check it
    user_at = keywords.index("USER")
    assert user_at < keywords.index("ENTRYPOINT")
    assert all(k not in ("RUN", "COPY", "ADD") for k in keywords[user_at:])
    entrypoint = next(i.args for i in final if i.keyword == "ENTRYPOINT")
    assert json.loads(entrypoint) == ["regogate-entrypoint"]  # exec form: signals reach it
    assert any(k == "HEALTHCHECK" for k in keywords)
    assert [i.args for i in final if i.keyword == "EXPOSE"] == ["6432"]


def test_dockerfile_holds_no_secret_and_pins_its_bases() -> None:
    stages = dockerfile_stages()
    aliases = set()
    for stage in stages:
        base = shlex.split(stage[0].args)
        image = base[0]
        if image not in aliases:
            name, _, tag = image.rpartition(":")
            assert name and tag and tag != "latest", image
        if len(base) == 3 and base[1].upper() == "AS":
            aliases.add(base[2])
        for i in stage:
            if i.keyword in ("ENV", "ARG"):
                assert not _SECRETISH.search(i.args), i
            if i.keyword in ("COPY", "ADD"):
                assert "secrets" not in i.args and ".regogate" not in i.args, i
                assert "http://" not in i.args and "https://" not in i.args, i


def test_image_paths_match_the_configs() -> None:
    """The directories the image makes for uid 10001 are where both configs write."""
    final = " ".join(i.args for i in dockerfile_stages()[-1] if i.keyword == "RUN")
    for directory in ("recordings", "keys", "tls", "anchor"):
        assert f"/var/lib/regogate/{directory}" in final, directory
    assert f"install -d -o {UID} -g {UID} -m 0700" in final
    copies = [i.args for i in dockerfile_stages()[-1] if i.keyword == "COPY"]
    assert "--from=opa /opa /usr/local/bin/opa" in copies


def test_compose_config_is_accepted_by_regogate(tmp_path: Path) -> None:
    """deploy/compose/regogate.toml plus generated tokens, through regogate's own loader
    (absolute paths moved under a scratch root holding what the container mounts)."""
    secrets = tmp_path / "secrets"
    run_generate(secrets)
    root = tmp_path / "root"
    text = COMPOSE_CONFIG.read_text() + "\n" + (secrets / "regogate_tokens.toml").read_text()
    for path in re.findall(r'= "(/[^"]*)"', text):
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.endswith("/policies"):
            target.mkdir()
        elif "recordings" not in path:
            target.write_text("x\n")
    config = parse_config(re.sub(r'= "/', f'= "{root}/', text), origin="compose", env={})
    assert [t.sub for t in config.tokens] == ["analyst", "agent", "dba"]
    assert config.connections["bank"].user == "regogate"  # the role deploy/initdb creates
    assert config.server.cleartext_without_tls == "never"
    assert config.server.tls_cert_file is not None


def run_generate(directory: Path) -> None:
    p = subprocess.run(
        ["sh", str(GENERATE_SECRETS), str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert p.returncode == 0, p.stderr


def test_generate_secrets(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    run_generate(secrets)
    modes = {p.name: p.stat().st_mode & 0o777 for p in secrets.iterdir()}
    assert modes == {
        "postgres_password": 0o644,  # read by the postgres and regogate container users
        "upstream_password": 0o644,
        "regogate_tokens.toml": 0o644,
        "tokens.env": 0o600,  # the tokens themselves: the operator's only
    }
    assert secrets.stat().st_mode & 0o777 == 0o700
    tokens = dict(line.split("=", 1) for line in (secrets / "tokens.env").read_text().splitlines())
    hashes = (secrets / "regogate_tokens.toml").read_text()
    for who in ("ANALYST", "AGENT", "DBA"):
        assert f'token_sha256 = "{token_sha256(tokens[f"{who}_TOKEN"])}"' in hashes
    assert len((secrets / "upstream_password").read_text()) >= 32
    # a second run keeps what exists
    before = {p.name: p.read_bytes() for p in secrets.iterdir()}
    run_generate(secrets)
    assert {p.name: p.read_bytes() for p in secrets.iterdir()} == before
