"""[masking]: the deployment key of the ``hash`` mask method (keyed HMAC-SHA-256), kept
apart from the recording's signing and MAC keys (docs/masking.md)."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from regogate.config.reader import Reader
from regogate.errors import ConfigError

log = logging.getLogger("regogate.config")

MASK_KEY_ENV = "REGOGATE_MASK_KEY"
MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class MaskingConfig:
    """[masking]. ``hash_key_file``: a file holding the hash key (at least 16 bytes; mode
    0600); else ``$REGOGATE_MASK_KEY``; else a random key for this process (equal values
    still hash alike within it, not across restarts)."""

    hash_key_file: Path | None = None


_REFUSED = {
    "hash_key": "the hash key is not allowed in the config file; use hash_key_file or "
    f"the {MASK_KEY_ENV} environment variable",
}


def parse_masking(r: Reader, data: Mapping[str, object]) -> MaskingConfig:
    m = r.section(data, "masking", MaskingConfig, _REFUSED)
    key_file = m.path("hash_key_file")
    rec = r.table(data, "recording")
    for other in ("key_file", "mac_key_file"):
        value = rec.get(other)
        if key_file is not None and isinstance(value, str) and r.resolve(value) == key_file:
            raise m.fail(
                "hash_key_file", f"must not be the recording's {other}: the hash key is its own"
            )
    return MaskingConfig(hash_key_file=key_file)


def load_mask_key(cfg: MaskingConfig, env: Mapping[str, str] | None = None) -> bytes:
    """The hash key: from the file, else the environment, else random (with a warning)."""
    environ = os.environ if env is None else env
    if cfg.hash_key_file is not None:
        try:
            key = cfg.hash_key_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(
                f"[masking] hash_key_file: cannot read {cfg.hash_key_file}: {exc.strerror}"
            ) from None
        return _checked(key, str(cfg.hash_key_file))
    value = environ.get(MASK_KEY_ENV)
    if value:
        if value == environ.get("REGOGATE_SIGNING_KEY") or value == environ.get("REGOGATE_MAC_KEY"):
            raise ConfigError(f"${MASK_KEY_ENV} must not be the signing or MAC key")
        return _checked(value.encode(), f"${MASK_KEY_ENV}")
    log.warning(
        "no [masking] hash_key_file or $%s: the hash mask uses a random key for this "
        "process, so hashed values differ after a restart",
        MASK_KEY_ENV,
    )
    return secrets.token_bytes(32)


def _checked(key: bytes, where: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"the mask hash key in {where} must be at least {MIN_KEY_BYTES} bytes")
    return key
