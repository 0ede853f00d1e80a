"""The whole regogate.toml: parse_config (text) and load_config (a file) return a Config."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from regogate.config.approvals import ApprovalsConfig, parse_approvals
from regogate.config.connections import ConnectionConfig, parse_connections
from regogate.config.keys import toml
from regogate.config.masking import MaskingConfig, parse_masking
from regogate.config.oidc import parse_oidc
from regogate.config.policy import PolicyConfig, parse_policy
from regogate.config.reader import Reader
from regogate.config.recording import RecordingConfig, parse_recording
from regogate.config.server import ServerConfig, parse_server
from regogate.config.tokens import StaticToken, parse_tokens
from regogate.errors import ConfigError
from regogate.oidc.config import OidcIssuerConfig


@dataclass(frozen=True)
class Config:
    path: Path | None = field(metadata=toml())  # the file it was loaded from
    server: ServerConfig
    connections: Mapping[str, ConnectionConfig]
    tokens: tuple[StaticToken, ...]
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    oidc: tuple[OidcIssuerConfig, ...] = ()
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    approvals: ApprovalsConfig = field(default_factory=ApprovalsConfig)


def parse_config(
    text: str,
    *,
    origin: str = "<config>",
    env: Mapping[str, str] | None = None,
    base: Path | None = None,
) -> Config:
    """Parse and validate TOML text; raise ConfigError naming file, key and problem.

    Relative paths are resolved against ``base`` (default: the working directory)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: invalid TOML: {exc}") from None
    r = Reader(origin, os.environ if env is None else env, base or Path.cwd())
    r.document(data, Config)
    server = parse_server(r, data)
    return Config(
        path=None,
        server=server,
        connections=parse_connections(r, data),
        tokens=parse_tokens(r, data),
        policy=parse_policy(r, data),
        recording=parse_recording(r, data),
        oidc=parse_oidc(r, data),
        masking=parse_masking(r, data),
        approvals=parse_approvals(r, data),
    )


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and parse ``path``; its relative paths are resolved against its directory."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    cfg = parse_config(text, origin=str(path), env=env, base=path.resolve().parent)
    return dataclasses.replace(cfg, path=path)
