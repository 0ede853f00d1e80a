"""regogate.toml: typed configuration with readable validation errors (file, key, problem).

One module per section (server, connections, tokens, policy, recording, oidc, masking), each with
the dataclass it fills; a table's known keys are that dataclass's fields (keys.py).
Secrets never live in the TOML: upstream passwords come from ``password_env`` or
``password_file``; client tokens are stored only as SHA-256 hashes.
"""

from regogate.config.approvals import ApprovalsConfig
from regogate.config.connections import ConnectionConfig, Secret
from regogate.config.load import Config, load_config, parse_config
from regogate.config.masking import MaskingConfig
from regogate.config.policy import PolicyConfig
from regogate.config.recording import RecordingConfig
from regogate.config.server import ServerConfig
from regogate.config.tokens import StaticToken

__all__ = [
    "ApprovalsConfig",
    "Config",
    "ConnectionConfig",
    "MaskingConfig",
    "PolicyConfig",
    "RecordingConfig",
    "Secret",
    "ServerConfig",
    "StaticToken",
    "load_config",
    "parse_config",
]
