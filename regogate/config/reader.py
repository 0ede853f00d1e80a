"""Reading regogate.toml tables: typed values, paths resolved beside the config file, and
errors that name the file, the key and the problem."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from regogate.config.keys import known_keys, unknown_key_problem
from regogate.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")

NO_REFUSALS: Mapping[str, str] = {}


@dataclass(frozen=True)
class Reader:
    """One config document: its name in messages, the environment secrets come from, and
    the directory relative paths are resolved against."""

    origin: str
    env: Mapping[str, str]
    base: Path

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.origin}: {key}: {problem}")

    def resolve(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p

    def document(self, data: Mapping[str, object], shape: type[DataclassInstance]) -> Table:
        """The top level, its keys checked against ``shape``."""
        return Table(self, data, "", "the top-level table").checked(shape, NO_REFUSALS)

    def table(self, data: Mapping[str, object], key: str) -> Mapping[str, object]:
        """The [key] table as it is (its keys are names, e.g. [connections.NAME])."""
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, got {type(value).__name__}")
        return cast(Mapping[str, object], value)

    def section(
        self,
        data: Mapping[str, object],
        key: str,
        shape: type[DataclassInstance],
        refused: Mapping[str, str] = NO_REFUSALS,
    ) -> Table:
        """The [key] table (empty if absent), its keys checked against ``shape``."""
        return Table(self, self.table(data, key), key, f"[{key}]").checked(shape, refused)

    def entries(
        self,
        data: Mapping[str, object],
        key: str,
        shape: type[DataclassInstance],
        refused: Mapping[str, str] = NO_REFUSALS,
    ) -> list[Table]:
        """The [[key]] array of tables, each one's keys checked against ``shape``."""
        raw = data.get(key, [])
        if not isinstance(raw, list):
            raise self.fail(key, f"must be an array of tables ([[{key}]])")
        tables: list[Table] = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{i}]", "must be a table")
            entry = Table(self, cast(Mapping[str, object], item), f"{key}[{i}]", f"[[{key}]]")
            tables.append(entry.checked(shape, refused))
        return tables


@dataclass(frozen=True)
class Table:
    """One TOML table: its values, its key path (``server``, ``tokens[0]``) for messages,
    and the section a user would look for (``[server]``, ``[[tokens]]``)."""

    reader: Reader
    data: Mapping[str, object]
    name: str
    section: str

    def key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def fail(self, key: str, problem: str) -> ConfigError:
        return self.reader.fail(self.key(key), problem)

    def checked(self, shape: type[DataclassInstance], refused: Mapping[str, str]) -> Table:
        """Self, if every key fills a field of ``shape``; ``refused`` keys (a secret, say)
        are named with their own reason."""
        for key, reason in refused.items():
            if key in self.data:
                raise self.fail(key, reason)
        known = known_keys(shape)
        unknown = sorted(set(self.data) - known)
        if unknown:
            raise self.fail(unknown[0], unknown_key_problem(unknown[0], known, self.section))
        return self

    def get(self, key: str, kind: type[T], default: T) -> T:
        if key not in self.data:
            return default
        return self.require(key, kind)

    def require(self, key: str, kind: type[T]) -> T:
        if key not in self.data:
            raise self.fail(key, "is required")
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return cast(T, float(value))
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(key, f"must be {kind.__name__}, got {type(value).__name__} {value!r}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in options:
            raise self.fail(key, f"must be one of {', '.join(options)}; got {value!r}")
        return value

    def port(self, key: str, default: int) -> int:
        value = self.get(key, int, default)
        if not 0 <= value <= 65535:
            raise self.fail(key, f"must be a TCP port 0..65535, got {value}")
        return value

    def positive(self, key: str, default: int) -> int:
        value = self.get(key, int, default)
        if value <= 0:
            raise self.fail(key, f"must be positive, got {value}")
        return value

    def path(self, key: str) -> Path | None:
        """A file or directory; relative to the config file's directory."""
        value = self.get(key, str, "")
        return self.reader.resolve(value) if value else None
