"""What `regogate serve` runs besides the listener: the policy engine (OPA sidecar or an
external OPA), the recorder, and the per-session hooks that tie them to each session.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio

import regogate
from regogate import __version__, childenv
from regogate.approvals.running import RunningApprovals, start_approvals
from regogate.config import Config, RecordingConfig, Secret
from regogate.config.masking import load_mask_key
from regogate.errors import ConfigError, InvalidAuthorization, RecordingUnavailable, RegogateError
from regogate.metrics import Metrics, serve_metrics
from regogate.policy.catalog_cache import CatalogCache
from regogate.policy.catalog_fetch import CatalogLimits, UpstreamCatalogSource
from regogate.policy.decision import Decision
from regogate.policy.engine import PolicyEngine
from regogate.policy.facts import synthetic_statement
from regogate.policy.opa import OpaClient
from regogate.policy.sidecar import OpaSidecar, PolicyLoader, find_opa
from regogate.proxy.analysis_budget import ANALYSIS_WORKERS, StatementBudget
from regogate.proxy.approval_hold import ApprovalHold
from regogate.proxy.deny import Denials
from regogate.proxy.gate import GateResults, PolicyGate, quote_ident, session_input
from regogate.proxy.hooks import (
    NullRecordSink,
    PassThroughHooks,
    RecordSink,
    ResultHook,
    SessionContext,
    SessionHooks,
    passthrough_hooks,
)
from regogate.proxy.recording_sink import SessionRecording, open_body
from regogate.proxy.startup import settings_sql
from regogate.proxy.statement_record import Redactor as StatementRedactor
from regogate.recording.format.mac import (
    MAX_PARAM_MACS,
    MacRoot,
    ParamCommitter,
    legacy_param_key,
)
from regogate.recording.format.records import GatewayInfo
from regogate.recording.read import timestamps
from regogate.recording.write import keys, provenance
from regogate.recording.write.export import CheckpointExporter
from regogate.recording.write.native import bind_macs as native_bind_macs
from regogate.recording.write.redactor import Redactor
from regogate.recording.write.session_commit import SessionRedactor, session_scheme
from regogate.recording.write.store import FsyncPolicy
from regogate.recording.write.tsa import CheckpointTimestamper
from regogate.recording.write.writer import Recorder, WriterProcess
from regogate.wire.startup_params import APPROVAL_MODE

log = logging.getLogger("regogate")


@dataclass
class Runtime:
    config: Config
    engine: PolicyEngine | None = None
    sidecar: OpaSidecar | None = None
    recorder: Recorder | None = None
    redactor: Redactor | None = None
    mac_root: MacRoot | None = field(default=None, repr=False)  # commitments, digests
    exporter: CheckpointExporter | None = None
    digest_key: bytes = field(default=b"", repr=False)  # of result digests (recording)
    legacy_params: ParamCommitter | None = None  # Bind values' commitments, no MAC root
    metrics: Metrics = field(default_factory=Metrics)
    approvals: RunningApprovals | None = None  # [approvals]: the service held statements use
    sessions_opened: int = 0
    # [policy] max_statement_bytes and analysis_timeout, shared by every session's gate
    budget: StatementBudget = field(init=False)
    mask_key: bytes = field(init=False, repr=False)  # [masking]: the hash method's key

    def __post_init__(self) -> None:
        pol = self.config.policy
        # Whenever a policy decides (the engine is made after this): never an empty key,
        # which would make the hash method an unkeyed, reversible hash.
        policy_on = self.config.policy.mode != "off"
        self.mask_key = load_mask_key(self.config.masking) if policy_on else b""
        self.budget = StatementBudget(
            pol.max_statement_bytes,
            pol.analysis_timeout,
            workers=ANALYSIS_WORKERS if pol.analysis_workers is None else pol.analysis_workers,
        )

    def record_policy(self, revision: str) -> None:
        """A policy revision went live: a gateway-scoped policy.load record."""
        if self.recorder is None:
            return
        body: dict[str, object] = {"revision": revision}
        if self.sidecar is not None and self.sidecar.loader.bundle is not None:
            bundle = self.sidecar.loader.bundle
            body.update(
                digest=bundle.digest,
                git_commit=bundle.git_commit,
                modules=sorted(bundle.modules),
                data=sorted(bundle.data),
            )
        try:
            self.recorder.record("policy.load", body)
        except RegogateError as exc:
            log.error("could not record policy revision %s: %s", revision, exc.message)

    def reload(self) -> None:
        """SIGHUP: reload the policy directory and drop cached decisions."""
        if self.sidecar is not None:
            self.sidecar.request_reload()
        elif self.engine is not None:
            self.engine.policy_changed(self.engine.revision)

    def _blocked(self) -> RegogateError | None:
        rec = self.recorder
        if rec is None or rec.healthy or self.config.recording.on_error == "continue":
            return None
        return rec.failure or RecordingUnavailable(
            "the recorder is not running; statements are refused (fail closed)"
        )

    async def hooks(self, ctx: SessionContext) -> SessionHooks:
        self.sessions_opened += 1
        if self.engine is None and self.recorder is None:
            return await passthrough_hooks(ctx)
        record: RecordSink = NullRecordSink()
        gate_box: list[PolicyGate] = []
        if self.recorder is not None:
            try:
                body = open_body(ctx)
                if self.mac_root is not None:
                    body["literal_commitments"] = session_scheme(self.mac_root.id)
                    body["result_digests"] = session_scheme(self.mac_root.id)
                elif self.redactor is not None:
                    body["literal_commitments"] = {"key": self.redactor.key_id}
                chain = self.recorder.open_session(body, sid=ctx.session_id)
            except RecordingUnavailable:
                if self.config.recording.on_error == "deny":
                    raise
                log.error("session %s is not recorded: the recorder failed", ctx.session_id)
            else:

                def counts() -> Mapping[str, int]:
                    g = gate_box[0] if gate_box else None
                    return {"statements": g.statements, "denied": g.denied} if g else {}

                record = SessionRecording(
                    chain,
                    digest_key=self.digest_key
                    if self.mac_root is None
                    else self.mac_root.digest_key(ctx.session_id),
                    on_error=self.config.recording.on_error,
                    durability=self.config.recording.durability,
                    write_timeout=self.config.recording.write_timeout,
                    counts=counts,
                )
        # Denials swaps the upstream's error for the policy's (or the recorder's) own.
        denials = Denials()
        session = await self._session_decision(ctx)
        role = session.upstream_role if session is not None else None
        gate = PolicyGate(
            self.engine,
            ctx,
            denials,
            record,
            redact=self._redactor(ctx) if isinstance(record, SessionRecording) else None,
            healthy=self._blocked if self.recorder is not None else None,
            upstream_role=role,
            budget=self.budget,
            mask_key=self.mask_key,
            params=self._params(ctx) if isinstance(record, SessionRecording) else None,
        )
        gate_box.append(gate)
        if self.approvals is not None and self.engine is not None:
            gate.approval_hold = ApprovalHold(
                self.approvals, ctx, record, async_mode=self._async_approvals(ctx)
            )
        results: ResultHook = GateResults(gate, denials) if self.engine is not None else denials
        startup: tuple[str, ...] = (f"SET ROLE {quote_ident(role)}",) if role else ()
        if session is not None:
            startup += settings_sql(session.session_settings)
        if role and isinstance(record, SessionRecording):
            record.event("upstream.role", {"role": role})
        limit = session.session_limit if session is not None else None
        return PassThroughHooks(gate, results, record, startup, limit)

    def _async_approvals(self, ctx: SessionContext) -> bool:
        """Whether this session's statements needing approval fail at once (agents): as
        the client asked at startup (``regogate.approval_mode``: hold or async), else as
        [approvals] async_connections says of its connection (docs/approvals.md)."""
        asked = ctx.gateway_settings.get(APPROVAL_MODE)
        if asked is not None:
            return asked == "async"
        return ctx.connection.name in self.config.approvals.async_connections

    def _redactor(self, ctx: SessionContext) -> StatementRedactor | None:
        """The session's redactor: per-literal commitments with the session's own key, or
        (without a MAC root) one commitment keyed from the signing key."""
        if self.redactor is None or self.mac_root is None:
            return self.redactor
        return SessionRedactor(self.redactor, self.mac_root.literal_key(ctx.session_id))

    def _params(self, ctx: SessionContext) -> ParamCommitter | None:
        """Bind parameter commitments: one per value with the session's own key, or
        (without a MAC root) one per Bind keyed from the signing key's literal key."""
        if self.mac_root is None:
            return self.legacy_params
        key = self.mac_root.param_key(ctx.session_id)
        return ParamCommitter(key, fast=native_bind_macs(key, MAX_PARAM_MACS))

    async def _session_decision(self, ctx: SessionContext) -> Decision | None:
        """The policy's decision for this session (verb CONNECT): its upstream role and
        its identity's session limit. None without a policy engine."""
        if self.engine is None:
            return None
        try:
            decided = await self.engine.decide(connect_input(ctx))
        except RegogateError as exc:
            # Fail closed: a policy may give this identity a narrower role; without the
            # session decision the session cannot start as the policy wants it.
            log.warning("session %s: no session decision (%s)", ctx.session_id, exc.message)
            raise InvalidAuthorization(
                f"regogate could not decide this session ({exc.message})",
                hint="the policy engine is unavailable; retry in a moment",
            ) from None
        return decided.decision


CONNECT = synthetic_statement("CONNECT")


def connect_input(ctx: SessionContext) -> dict[str, object]:
    """The session decision's input: who, where, and the startup settings asked for."""
    base = session_input(ctx)
    connection = dict(base["connection"])  # type: ignore[call-overload]
    connection["startup_settings"] = sorted(ctx.startup_settings)
    return {**base, "connection": connection, "statement": CONNECT}


def load_mac_root(rec: RecordingConfig) -> MacRoot | None:
    """The MAC root secret of literal commitments and result digests: mac_key_file, else
    $REGOGATE_MAC_KEY (consumed), else <key_file>.mac if it is there; else None (the old
    scheme: keys derived from the signing key, one commitment per statement)."""
    if rec.mac_key_file is not None:
        return keys.load_mac_root(rec.mac_key_file)
    root = keys.load_mac_root_from_env()
    if root is not None:
        return root
    if rec.key_file is not None and keys.mac_file_for(rec.key_file).exists():
        return keys.load_mac_root(keys.mac_file_for(rec.key_file))
    log.warning(
        "no MAC root secret ([recording] mac_key_file, $%s or <key_file>.mac): literal "
        "commitments and result digests are keyed from the signing key, and one session's "
        "cannot be disclosed alone",
        keys.MAC_ENV_VAR,
    )
    return None


def checkpoint_anchor(rec: RecordingConfig) -> Path | None:
    """Where the last checkpoint is kept outside the log (recording.tail.check_anchor):
    ``checkpoint_anchor`` (its directory must be writable), else beside the key file if
    the gateway may write there (a read-only key volume: none, with a warning)."""
    path = rec.anchor_file
    if path is None:
        if rec.anchor_dir is None:
            log.warning(
                "no checkpoint anchor: a start cannot tell a log rewritten with its "
                "checkpoints; set [recording] checkpoint_anchor or checkpoint_export"
            )
        return None
    if os.access(path.parent, os.W_OK | os.X_OK):
        return path
    if rec.checkpoint_anchor is not None:
        raise ConfigError(
            f"recording.checkpoint_anchor: cannot write in {path.parent}",
            hint="the gateway keeps the latest checkpoint there; make the directory writable",
        )
    if rec.export_dirs:
        return None  # the first export directory's latest note is the anchor
    log.warning(
        "no checkpoint anchor: the key file's directory %s is read-only; set [recording] "
        "checkpoint_anchor to a file on a writable volume outside the recording directory",
        path.parent,
    )
    return None


def start_body(config: Config) -> dict[str, object]:
    """gateway.start's evidence of what runs: the effective configuration's digest
    (secrets withheld) and the build's (recording-format.md §4)."""
    files, count = provenance.build_digest(Path(regogate.__file__).parent)
    return {
        "config_sha256": provenance.config_digest(config, Secret),
        "build": {"version": __version__, "files_sha256": files, "files": count},
    }


@asynccontextmanager
async def start(config: Config) -> AsyncIterator[Runtime]:
    """Start OPA (or connect to the configured one) and the recorder; stop them at exit."""
    rt = Runtime(config)
    pol = config.policy
    async with AsyncExitStack() as stack:
        tg = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(tg.cancel_scope.cancel)  # runs last: stops the sidecar
        if pol.mode == "off":
            log.warning('[policy] mode = "off": statements are NOT authorized by any policy')
        else:
            await stack.enter_async_context(rt.budget)  # analysis workers: start, stop
            catalogs = CatalogCache(
                UpstreamCatalogSource(CatalogLimits(connect_timeout=config.server.connect_timeout))
            )
            if pol.opa_url is not None:
                client = OpaClient(pol.opa_url, timeout=pol.timeout, metrics=rt.metrics)
                stack.push_async_callback(client.aclose)
                url = pol.opa_url
                rt.engine = PolicyEngine(
                    client,
                    catalogs,
                    revision=lambda: f"external:{url}",
                    cache_size=pol.cache_size,
                    metrics=rt.metrics,
                )
                if not await client.healthy():
                    log.error("OPA at %s is not healthy; statements are denied until it is", url)
            else:
                assert pol.dir is not None

                def changed(revision: str) -> None:
                    if rt.engine is not None:
                        rt.engine.policy_changed(revision)
                    rt.record_policy(revision)

                directory = pol.dir
                sidecar = OpaSidecar(
                    find_opa(pol.opa_binary),
                    lambda c: PolicyLoader(c, directory, on_change=changed),
                    watch_interval=pol.watch_interval,
                    timeout=pol.timeout,
                    metrics=rt.metrics,
                    env=pol.env,
                )
                rt.sidecar = sidecar
                rt.engine = PolicyEngine(
                    sidecar.client,
                    catalogs,
                    revision=lambda: sidecar.loader.revision,
                    cache_size=pol.cache_size,
                    available=sidecar.available,
                    metrics=rt.metrics,
                )
                await tg.start(sidecar.run)
                log.info("OPA sidecar on %s, policy revision %s", sidecar.url, rt.engine.revision)
        if rt.engine is not None:
            # Catalog refreshes in the background: statements never wait for them.
            await tg.start(rt.engine.run)
        rec = config.recording
        if rec.enabled:
            assert rec.dir is not None
            anchor = checkpoint_anchor(rec)
            # Only the writer process reads the signing key (docs/threat-model.md).
            writer = WriterProcess(
                rec.dir,
                segment_bytes=rec.segment_bytes,
                fsync=FsyncPolicy(rec.fsync),
                writer=rec.writer,
                key_file=rec.key_file,
                key_env=keys.ENV_VAR,
                anchor_file=anchor,
                # without an anchor file: the first export directory's latest note
                anchor_dir=None if anchor or not rec.export_dirs else rec.export_dirs[0],
            )
            recorder = Recorder(
                writer,
                None,
                GatewayInfo.new(config.server.gateway_id, __version__),
                start_body=start_body(config),
                checkpoint_every=rec.checkpoint_every,
                checkpoint_interval=rec.checkpoint_interval,
                busy_linger=rec.commit_interval,
            )
            if rec.tsa_url is not None and not timestamps.available():
                raise ConfigError(f"recording.tsa_url: {timestamps.MISSING}")
            exporters: list[CheckpointExporter] = []
            stampers: list[CheckpointTimestamper] = []

            async def finish_export() -> None:  # after the recorder's last seal
                for exporter in exporters:
                    if not await exporter.drain(rec.checkpoint_export_timeout):
                        log.error("the last checkpoint was not exported to every destination")
                for stamper in stampers:
                    if not await stamper.finish(rec.checkpoint_export_timeout):
                        log.error("the last checkpoint was not timestamped by %s", stamper.url)

            stack.push_async_callback(finish_export)
            try:
                rt.recorder = await stack.enter_async_context(recorder.running())
            except RecordingUnavailable as exc:
                where = "" if str(rec.dir) in exc.message else f"recording directory {rec.dir}: "
                raise ConfigError(where + exc.message, hint=exc.hint) from None
            finally:
                childenv.consume(keys.ENV_VAR)  # the writer has its copy, or none is needed
            if rec.export_dirs or rec.export_urls or anchor:
                exporter = CheckpointExporter(
                    recorder.origin,
                    rec.export_dirs,
                    rec.export_urls,
                    timeout=rec.checkpoint_export_timeout,
                    anchor=anchor,
                )
                await tg.start(exporter.run)
                recorder.checkpoint_listeners.append(exporter.submit)
                if recorder.latest_checkpoint is not None:
                    exporter.submit(recorder.latest_checkpoint)
                exporters.append(exporter)
                rt.exporter = exporter
                log.info(
                    "checkpoints are kept at %s",
                    ", ".join(d.name for d in exporter.destinations),
                )
            if rec.tsa_url is not None:
                stamper = CheckpointTimestamper(
                    rec.tsa_url,
                    rec.dir,
                    interval=rec.tsa_interval,
                    timeout=rec.checkpoint_export_timeout,
                )
                tg.start_soon(stamper.run)
                recorder.checkpoint_listeners.append(stamper.offer)
                if recorder.latest_checkpoint is not None:
                    stamper.offer(recorder.latest_checkpoint)
                stampers.append(stamper)
                rt.metrics.counter("regogate_checkpoint_timestamps_total", lambda: stamper.tokens)
                log.info("checkpoints are timestamped by %s", rec.tsa_url)
            key = recorder.key
            rt.redactor = Redactor(key.commit_key, key.key_id)
            rt.budget.record_redactions(rt.redactor)
            rt.mac_root = load_mac_root(rec)
            rt.legacy_params = ParamCommitter(legacy_param_key(key.commit_key), each=False)
            rt.digest_key = key.digest_key
            if rt.engine is not None:
                rt.record_policy(rt.engine.revision)
            log.info(
                "recording to %s (origin %s, %s writer, %s hot path, a batch every %g ms "
                "under load, %s)",
                rec.dir,
                recorder.origin,
                recorder.writer_engine,
                recorder.hotpath_engine,
                recorder.commit_interval * 1000,
                "each statement waits for its records"
                if rec.durability == "statement"
                else "clients do not wait for the log",
            )
        # whether recording is on or not, the gateway never keeps the signing key
        childenv.consume(keys.ENV_VAR)
        if config.approvals.enabled:
            if rt.engine is None:
                log.warning('[approvals] is set but [policy] mode = "off": nothing is held')
            rt.approvals = await stack.enter_async_context(
                start_approvals(config, mac_root=rt.mac_root)
            )
        stack.callback(log_stats, rt)
        _register_metrics(rt)
        if config.server.metrics_listen is not None:
            host, _, port = config.server.metrics_listen.rpartition(":")
            bound = await tg.start(serve_metrics, rt.metrics, host.strip("[]"), int(port))
            log.info("metrics on http://%s:%d/metrics", host, bound)
        yield rt


def _register_metrics(rt: Runtime) -> None:
    m = rt.metrics
    m.counter("regogate_sessions_total", lambda: rt.sessions_opened)
    engine = rt.engine
    if engine is not None:
        st = engine.stats
        m.counter("regogate_decisions_total", lambda: st.decisions)
        m.counter("regogate_decision_cache_hits_total", lambda: st.cache_hits)
        m.counter("regogate_statements_denied_unavailable_total", lambda: st.unavailable)
    if rt.sidecar is not None:
        sidecar = rt.sidecar
        m.counter("regogate_opa_restarts_total", lambda: sidecar.restarts)
        m.gauge("regogate_opa_up", lambda: float(sidecar.available()))
    if rt.recorder is not None:
        recorder = rt.recorder
        m.gauge("regogate_recorder_healthy", lambda: float(recorder.healthy))
        m.gauge("regogate_recorder_unsealed_records", lambda: recorder.size - recorder.sealed_size)
    if rt.exporter is not None:
        exporter = rt.exporter
        m.counter("regogate_checkpoint_exports_total", lambda: exporter.delivered)
        m.counter("regogate_checkpoint_export_failures_total", lambda: exporter.failures)


def log_stats(rt: Runtime) -> None:
    """One line at exit: how many decisions, cache hits and OPA's round-trip times."""
    if rt.engine is None:
        return
    st = rt.engine.stats
    lat = sorted(st.latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0.0

    log.info(
        "policy stats: %d decisions, %d cache hits, %d unavailable, %d analyses; "
        "OPA round trip p50 %.3f ms p99 %.3f ms over %d requests",
        st.decisions,
        st.cache_hits,
        st.unavailable,
        st.analyses,
        pct(0.5),
        pct(0.99),
        len(lat),
    )
    batcher = rt.sidecar.client.batcher if rt.sidecar is not None else None
    if batcher is not None:
        log.info(
            "OPA requests: %d, %d of them batches of %d decisions in all",
            batcher.requests,
            batcher.batches,
            batcher.batched,
        )
    catalogs = rt.engine.catalogs
    log.info(
        "catalog stats: %d reads (%.1f s; %s), %d lookups (%.1f s, merging %.1f s); statements "
        "looked up names the snapshot did not know %d times (%.1f s)",
        catalogs.fetches,
        catalogs.read_seconds,
        ", ".join(f"{n} {cause}" for cause, n in sorted(catalogs.read_causes.items())) or "none",
        catalogs.lookups,
        catalogs.lookup_seconds,
        catalogs.merge_seconds,
        st.look_agains,
        st.look_again_seconds,
    )
