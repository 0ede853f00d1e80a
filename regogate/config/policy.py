"""[policy]: where decisions come from (the OPA sidecar or an external OPA) and the
budgets a statement must fit before it is decided."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, get_args

from regogate.config.reader import Reader, Table

PolicyMode = Literal["enforce", "off"]


@dataclass(frozen=True)
class PolicyConfig:
    """[policy]: where decisions come from. ``mode = "off"`` lets every statement through
    (loudly logged; for transparency testing only). The default is to enforce."""

    mode: PolicyMode = "enforce"
    dir: Path | None = None  # the Rego directory pushed into the sidecar
    opa_url: str | None = None  # an external OPA; None starts the sidecar
    opa_binary: str | None = None
    timeout: float = 0.5  # seconds per decision request
    cache_size: int = 10000  # 0 disables the decision cache
    watch_interval: float = 1.0  # seconds between policy directory checks
    # statement text longer than this is denied unread (54000); proxy.analysis_budget
    max_statement_bytes: int = 1024 * 1024
    analysis_timeout: float = 2.0  # seconds a large text's analysis may take, else denied
    # processes that analyse large texts (proxy.analysis_pool); 0: threads of the gateway
    # (pglast then holds its GIL); None: half the cores, at least one
    analysis_workers: int | None = None
    # environment variables the OPA sidecar gets beyond childenv's allowlist (what a
    # policy can read with opa.runtime().env; e.g. a proxy for http.send)
    env: tuple[str, ...] = ()


def parse_policy(r: Reader, data: Mapping[str, object]) -> PolicyConfig:
    p = r.section(data, "policy", PolicyConfig)
    mode = cast(PolicyMode, p.choice("mode", get_args(PolicyMode), "enforce"))
    opa_url = p.get("opa_url", str, "") or None
    if opa_url is not None and not opa_url.startswith(("http://", "https://")):
        raise p.fail("opa_url", f"must be an http:// or https:// URL, got {opa_url!r}")
    directory = p.path("dir") or r.base / "policies" / "rego"
    if mode == "enforce" and opa_url is None and not directory.is_dir():
        raise p.fail(
            "dir",
            f"policy directory {directory} does not exist "
            '(set [policy] dir = "path/to/policies/rego", or opa_url for an external OPA)',
        )
    max_bytes, analysis_timeout = _statement_budget(p)
    return PolicyConfig(
        mode=mode,
        dir=directory,
        opa_url=opa_url,
        opa_binary=p.get("opa_binary", str, "") or None,
        timeout=_timeout(p),
        cache_size=_cache_size(p),
        watch_interval=_watch_interval(p),
        env=_env(p),
        max_statement_bytes=max_bytes,
        analysis_timeout=analysis_timeout,
        analysis_workers=_workers(p),
    )


def _timeout(p: Table) -> float:
    timeout = p.get("timeout", float, 0.5)
    if not 0 < timeout <= 30:
        raise p.fail("timeout", f"must be between 0 and 30 seconds, got {timeout}")
    return timeout


def _cache_size(p: Table) -> int:
    cache_size = p.get("cache_size", int, 10000)
    if cache_size < 0:
        raise p.fail("cache_size", f"must be 0 (no cache) or positive, got {cache_size}")
    return cache_size


def _watch_interval(p: Table) -> float:
    watch = p.get("watch_interval", float, 1.0)
    if watch <= 0:
        raise p.fail("watch_interval", f"must be positive, got {watch}")
    return watch


def _env(p: Table) -> tuple[str, ...]:
    env = p.get("env", list, [])
    if not all(isinstance(name, str) and name for name in env):
        raise p.fail("env", "must be a list of environment variable names")
    if "REGOGATE_SIGNING_KEY" in env:
        raise p.fail("env", "the signing key is never handed to OPA")
    return tuple(env)


def _workers(p: Table) -> int | None:
    if "analysis_workers" not in p.data:
        return None
    workers = p.get("analysis_workers", int, 1)
    if not 0 <= workers <= 64:
        raise p.fail("analysis_workers", f"must be between 0 and 64, got {workers}")
    return workers


def _statement_budget(p: Table) -> tuple[int, float]:
    """[policy] max_statement_bytes and analysis_timeout."""
    max_bytes = p.positive("max_statement_bytes", 1024 * 1024)
    if max_bytes < 1024:
        raise p.fail("max_statement_bytes", f"must be at least 1024, got {max_bytes}")
    analysis_timeout = p.get("analysis_timeout", float, 2.0)
    if not 0 < analysis_timeout <= 60:
        raise p.fail(
            "analysis_timeout", f"must be between 0 and 60 seconds, got {analysis_timeout}"
        )
    return max_bytes, analysis_timeout
