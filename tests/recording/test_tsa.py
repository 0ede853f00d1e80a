"""RFC 3161 timestamps on checkpoints, end to end: a gateway's recorder timestamps its
checkpoints at a local TSA made here (``fix_tsa``), the tokens land in timestamps.log,
and ``regogate verify --tsa-cert`` checks them (docs/recording-format.md §5, §8)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import anyio
import httpx
import pytest
from typer.testing import CliRunner

from regogate.cli.main import app
from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.layout import CHECKPOINTS, split_checkpoints
from regogate.recording.format.note import Signer
from regogate.recording.format.records import GatewayInfo
from regogate.recording.read.timestamps import TIMESTAMPS, Entry, TsaTrust
from regogate.recording.read.timestamps import request as timestamp_request
from regogate.recording.read.verify import Verdict, verify_directory
from regogate.recording.write.store import FsyncPolicy, SegmentStore
from regogate.recording.write.tsa import CheckpointTimestamper
from regogate.recording.write.writer import Recorder, WriterProcess
from tests.recording.conftest import everything
from tests.recording.fix_tsa import LocalTsa


def record(directory: Path, signer: Signer, url: str, process: str | None) -> int:
    """One gateway boot (``everything``) whose checkpoints are timestamped at ``url``;
    how many tokens it took."""

    async def main() -> int:
        store = None
        if process:
            spec = WriterProcess(directory, fsync=FsyncPolicy.NEVER, writer=process)
            rec = Recorder(spec, signer, GatewayInfo.new("gw-test", "0.1.0"))
        else:
            store = SegmentStore.open(directory, fsync=FsyncPolicy.NEVER)
            rec = Recorder(store, signer, GatewayInfo.new("gw-test", "0.1.0"))
        stamper = CheckpointTimestamper(url, directory, interval=0.0)
        rec.checkpoint_listeners.append(stamper.offer)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(stamper.run)
                async with rec.running():
                    await everything()(rec)
                assert await stamper.finish(10)  # the last checkpoint covers gateway.stop
                tg.cancel_scope.cancel()
        finally:
            if store is not None:
                store.close()
        return stamper.tokens

    return anyio.run(main)


def codes(verdict: Verdict, severity: str | None = None) -> set[str]:
    return {f.code for f in verdict.findings if severity is None or f.severity == severity}


@pytest.fixture(scope="module")
def tsa() -> LocalTsa:
    return LocalTsa()


def test_checkpoints_are_timestamped_and_verified(
    tmp_path: Path, signer: Signer, tsa: LocalTsa, process: str | None
) -> None:
    with tsa.serving() as url:
        tokens = record(tmp_path, signer, url, process)
    entries = [Entry.parse(x) for x in (tmp_path / TIMESTAMPS).read_bytes().splitlines()]
    assert tokens == len(entries) >= 1
    notes = [
        raw.decode() for _, raw in split_checkpoints((tmp_path / CHECKPOINTS).read_bytes(), {})[0]
    ]
    assert entries[-1].note == notes[-1]  # the final checkpoint, covering gateway.stop
    assert {e.note for e in entries} <= set(notes)
    trust = TsaTrust.from_pem(tsa.ca_pem())
    verdict = verify_directory(tmp_path, [signer.verifier], tsa=trust)
    assert verdict.ok and verdict.sealed and codes(verdict) == {"tsa-timestamped"}
    # without the TSA's certificate the tokens are only counted
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and codes(verdict) == {"tsa-unchecked"}


def test_tokens_of_another_tsa_or_edited_do_not_check(
    tmp_path: Path, signer: Signer, tsa: LocalTsa
) -> None:
    with tsa.serving() as url:
        record(tmp_path, signer, url, None)
    other = TsaTrust.from_pem(LocalTsa("another TSA").ca_pem())
    verdict = verify_directory(tmp_path, [signer.verifier], tsa=other)
    assert codes(verdict, "error") == {"tsa-token-invalid"}
    # a token moved onto another checkpoint: its imprint is another note's
    path = tmp_path / TIMESTAMPS
    lines = path.read_bytes().splitlines()
    first, last = Entry.parse(lines[0]), Entry.parse(lines[-1])
    if first.note != last.note:
        path.write_bytes(Entry(first.size, first.note, last.response).line())
        verdict = verify_directory(tmp_path, [signer.verifier], tsa=TsaTrust.from_pem(tsa.ca_pem()))
        assert codes(verdict, "error") == {"tsa-token-invalid"}


def test_a_log_rewritten_after_its_timestamp(tmp_path: Path, signer: Signer, tsa: LocalTsa) -> None:
    """The insider truncates the log and checkpoints.log together and signs again: the
    TSA's token still names the checkpoint the records no longer extend."""
    with tsa.serving() as url:
        record(tmp_path, signer, url, None)
    data = (tmp_path / CHECKPOINTS).read_bytes()
    entries, _ = split_checkpoints(data, {})
    keep = Checkpoint.parse(entries[0][1].decode().rpartition("\n\n")[0] + "\n").size
    seg = tmp_path / "seg-000001.jsonl"
    seg.write_bytes(b"".join(x + b"\n" for x in seg.read_bytes().split(b"\n")[:keep]))
    (tmp_path / CHECKPOINTS).write_bytes(data[: entries[1][0]])
    verdict = verify_directory(tmp_path, [signer.verifier], tsa=TsaTrust.from_pem(tsa.ca_pem()))
    assert "tsa-checkpoint-mismatch" in codes(verdict, "error")
    assert not verdict.ok


def test_a_tsa_clock_behind_the_gateway(tmp_path: Path, signer: Signer) -> None:
    behind = LocalTsa("slow TSA", clock_offset=timedelta(hours=-1))
    with behind.serving() as url:
        record(tmp_path, signer, url, None)
    verdict = verify_directory(tmp_path, [signer.verifier], tsa=TsaTrust.from_pem(behind.ca_pem()))
    assert verdict.ok and "tsa-time-before-signing" in codes(verdict, "warning")


def test_a_tsa_that_is_down_never_holds_the_recording(tmp_path: Path, signer: Signer) -> None:
    """Refused connections: the gateway records and seals as ever; no token, no file."""
    with LocalTsa().serving() as url:
        pass  # the server is gone: its port refuses

    async def main() -> bool:
        store = SegmentStore.open(tmp_path, fsync=FsyncPolicy.NEVER)
        stamper = CheckpointTimestamper(url, tmp_path, interval=0.0)
        rec = Recorder(store, signer, GatewayInfo.new("gw-test", "0.1.0"))
        rec.checkpoint_listeners.append(stamper.offer)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(stamper.run)
                async with rec.running():
                    await everything()(rec)
                done = await stamper.finish(1)
                tg.cancel_scope.cancel()
        finally:
            store.close()
        return done

    assert anyio.run(main) is False
    assert not (tmp_path / TIMESTAMPS).exists()
    verdict = verify_directory(tmp_path, [signer.verifier])
    assert verdict.ok and verdict.sealed and not verdict.findings


def test_a_tsa_answer_for_other_data_is_not_kept(tmp_path: Path, signer: Signer) -> None:
    tsa = LocalTsa()

    def wrong(request: httpx.Request) -> httpx.Response:
        other, _ = timestamp_request("another note\n")
        return httpx.Response(200, content=tsa.respond(other))

    async def main() -> bool:
        stamper = CheckpointTimestamper(
            "http://tsa.invalid/",
            tmp_path,
            client=httpx.AsyncClient(transport=httpx.MockTransport(wrong)),
        )
        stamper.offer(signer.sign(Checkpoint("o", 1, bytes(32)).text(), 5))
        return await stamper.finish(5)

    assert anyio.run(main) is False
    assert not (tmp_path / TIMESTAMPS).exists()


def test_verify_tsa_cert_on_the_command_line(tmp_path: Path, signer: Signer, tsa: LocalTsa) -> None:
    with tsa.serving() as url:
        record(tmp_path / "rec", signer, url, None)
    trust = tmp_path / "signing.vkeys"
    trust.write_text(signer.verifier.vkey() + "\n")
    cert = tmp_path / "tsa.pem"
    cert.write_bytes(tsa.ca_pem())
    args = ["verify", "-d", str(tmp_path / "rec"), "--trust", str(trust), "--json"]
    result = CliRunner().invoke(app, [*args, "--tsa-cert", str(cert)])
    assert result.exit_code == 0, result.output
    found = {f["code"] for f in json.loads(result.stdout)["findings"]}
    assert "tsa-timestamped" in found
    cert.write_bytes(LocalTsa("impostor").ca_pem())
    result = CliRunner().invoke(app, [*args, "--tsa-cert", str(cert)])
    assert result.exit_code == 1
    assert "tsa-token-invalid" in {f["code"] for f in json.loads(result.stdout)["findings"]}
    cert.write_text("not a certificate")
    result = CliRunner().invoke(app, [*args, "--tsa-cert", str(cert)])
    assert result.exit_code != 0 and "--tsa-cert" in result.output


def test_checkpoints_within_an_interval_take_one_token(tmp_path: Path, signer: Signer) -> None:
    """At most one token per interval, for the latest checkpoint; a stop takes one at once."""
    tsa = LocalTsa()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=tsa.respond(request.content))

    async def main() -> list[int]:
        client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        stamper = CheckpointTimestamper(
            "http://tsa.invalid/", tmp_path, interval=1.0, client=client
        )
        notes = [signer.sign(Checkpoint("o", n, bytes(32)).text(), 100 + n) for n in range(5)]
        async with anyio.create_task_group() as tg:
            tg.start_soon(stamper.run)
            stamper.offer(notes[1])  # the first: at once
            await anyio.sleep(0.3)
            assert stamper.tokens == 1
            stamper.offer(notes[2])
            stamper.offer(notes[3])  # within the interval: only the latest, once it is up
            await anyio.sleep(0.3)
            assert stamper.tokens == 1
            await anyio.sleep(1.2)
            assert stamper.tokens == 2
            stamper.offer(notes[4])
            assert await stamper.finish(5)  # a clean stop does not wait for the interval
            tg.cancel_scope.cancel()
        return [Entry.parse(x).size for x in (tmp_path / TIMESTAMPS).read_bytes().splitlines()]

    assert anyio.run(main) == [1, 3, 4]
