"""What a boot ran, for its ``gateway.start`` record: a digest of the effective
configuration (secrets removed) and of the build (the installed package's files).

``config_digest`` is pure; ``build_digest`` reads the package's files once at start.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Mapping
from pathlib import Path, PurePath

from regogate.recording.format import jcs

WITHHELD = "[secret]"  # a secret's value, in the digested form


def config_form(value: object, secret: type | tuple[type, ...] = ()) -> object:
    """A loaded configuration as JSON: dataclasses as objects (field names), paths and
    enums as strings, tuples and sets as arrays; every value of a ``secret`` type is
    replaced with ``"[secret]"`` (its presence stays visible, never its value)."""
    if secret and isinstance(value, secret):
        return WITHHELD
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: config_form(getattr(value, f.name), secret) for f in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {str(k): config_form(v, secret) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted((config_form(v, secret) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [config_form(v, secret) for v in value]
    if isinstance(value, enum.Enum):
        return config_form(value.value, secret)
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def config_digest(config: object, secret: type | tuple[type, ...] = ()) -> str:
    """Lowercase hex SHA-256 of the RFC 8785 form of ``config_form(config, secret)``."""
    return hashlib.sha256(jcs.dumps(config_form(config, secret))).hexdigest()


def build_digest(package: Path) -> tuple[str, int]:
    """(lowercase hex SHA-256, number of files) over the installed package's files: the
    manifest of one line per file, sorted by path, ``<sha256 hex> <relative path>\\n``
    (bytecode caches left out), hashed."""
    lines = []
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package).as_posix()
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()} {rel}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest(), len(lines)
