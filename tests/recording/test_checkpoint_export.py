"""Checkpoints leave the host (issue 19, "Checkpoints leave the host"): every new signed
checkpoint reaches the export directory and an HTTP endpoint; a log truncated together
with its checkpoints.log still verifies on its own, and `regogate verify --prior` with the
exported copy catches it."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import psycopg
import pytest

from regogate.recording.format.checkpoint import Checkpoint
from regogate.recording.format.layout import CHECKPOINTS, file_stem, split_checkpoints
from regogate.recording.format.note import Signer, open_note
from regogate.recording.write import keys
from regogate.recording.write.export import CheckpointExporter, export_to_directory
from tests.cli.test_recording_cli import run
from tests.fix_gateway import GatewayFixture
from tests.policy.test_enforce_e2e import policy_dir, policy_section


class Witness(http.server.ThreadingHTTPServer):
    """A real HTTP endpoint that keeps the notes POSTed to it; the first ``fail`` requests
    get a 503."""

    def __init__(self, fail: int = 0):
        self.notes: list[str] = []
        self.fail = fail
        self.requests = 0
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/add-checkpoint"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Witness

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests += 1
        ok = self.server.requests > self.server.fail and self.path == "/add-checkpoint"
        if ok and self.headers["Content-Type"].startswith("text/plain"):
            self.server.notes.append(body.decode())
        self.send_response(200 if ok else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def witness() -> Iterator[Witness]:
    server = Witness()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def size_of(note: str, signer: Signer) -> int:
    text, _ = open_note(note, [signer.verifier])
    return Checkpoint.parse(text).size


def test_a_directory_gets_the_history_and_the_latest(tmp_path: Path) -> None:
    target = tmp_path / "exported"
    export_to_directory(target, "bank.example/regogate/prod", "note one\n\nsig\n")
    export_to_directory(target, "bank.example/regogate/prod", "note two\n\nsig\n")
    stem = file_stem("bank.example/regogate/prod")
    assert stem == "bank.example_regogate_prod"
    assert (target / f"{stem}.latest.note").read_text() == "note two\n\nsig\n"
    history = (target / f"{stem}.checkpoints.log").read_bytes()
    assert [e for _, e in split_checkpoints(history, {})[0]] == [
        b"note one\n\nsig\n",
        b"note two\n\nsig\n",
    ]


def test_an_endpoint_that_fails_gets_the_latest_note_later() -> None:
    server = Witness(fail=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    exporter = CheckpointExporter("o", urls=[server.url], timeout=2)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(exporter.run)
            exporter.submit("first\n\nsig\n")
            exporter.submit("second\n\nsig\n")  # replaces the undelivered first
            assert await exporter.drain(10)
            tg.cancel_scope.cancel()

    try:
        anyio.run(main)
    finally:
        server.shutdown()
        server.server_close()
    assert server.notes == ["second\n\nsig\n"]
    assert exporter.failures == 2 and exporter.delivered == 1


def test_an_unwritable_directory_fails_without_holding_anything(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    exporter = CheckpointExporter("o", directories=[blocked / "sub"])

    async def main() -> bool:
        async with anyio.create_task_group() as tg:
            await tg.start(exporter.run)
            exporter.submit("n\n\ns\n")
            drained = await exporter.drain(0.5)
            tg.cancel_scope.cancel()
        return drained

    assert anyio.run(main) is False
    assert exporter.failures >= 1


def test_exported_checkpoints_catch_a_truncated_log(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path, witness: Witness
) -> None:
    signer = keys.generate("test.example/regogate")
    key_file = tmp_path / "rec.key"
    keys.install_signer(key_file, signer)
    rec_dir, exported = tmp_path / "recordings", tmp_path / "off-host"
    section = (
        f'[recording]\ndir = "{rec_dir}"\nkey_file = "{key_file}"\n'
        f"checkpoint_interval = 0.2\n"
        f'checkpoint_export = ["{exported}", "{witness.url}"]\n'
    )
    gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    with psycopg.connect(gw.dsn("analyst"), autocommit=True) as conn:
        for _ in range(5):
            conn.execute("select count(*) from customers")
    assert gw.process is not None
    assert gw.process.stop() == 0

    entries, _ = split_checkpoints((rec_dir / CHECKPOINTS).read_bytes(), {})
    last = entries[-1][1].decode()
    latest = exported / f"{file_stem(signer.name)}.latest.note"
    assert latest.read_text() == last  # the stop's seal was exported before exit
    assert witness.notes[-1] == last
    assert all(size_of(n, signer) > 0 for n in witness.notes)
    assert "checkpoints are kept at" in gw.process.log.read_text()

    # The attacker keeps the first checkpoint and the records it covers, nothing more.
    first = entries[0][1].decode()
    keep = size_of(first, signer)
    segment = rec_dir / "seg-000001.jsonl"
    segment.write_bytes(b"".join(segment.read_bytes().splitlines(keepends=True)[:keep]))
    (rec_dir / CHECKPOINTS).write_text(first + "\n")
    trust = tmp_path / "trust.vkeys"
    trust.write_text(signer.verifier.vkey() + "\n")
    alone = run("verify", "-d", rec_dir, "--trust", trust)
    assert alone.exit_code == 0, alone.output  # the cut log looks intact on its own
    caught = run("verify", "-d", rec_dir, "--trust", trust, "--prior", latest)
    assert caught.exit_code == 1, caught.output
    assert "prior-beyond-log" in caught.output and "truncated" in caught.output
    # Restarted on the cut log, the writer compares it with the anchor beside the key.
    assert (tmp_path / "rec.key.checkpoint").read_text() == last
    with pytest.raises(RuntimeError) as err:
        make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
    assert "signed record(s) were removed" in str(err.value)
    assert "Traceback" not in str(err.value)


def test_a_gateway_timestamps_its_checkpoints_at_a_tsa(
    make_gateway: Callable[..., GatewayFixture], tmp_path: Path
) -> None:
    """`regogate serve` with [recording] tsa_url: tokens in timestamps.log, the last over
    the checkpoint of gateway.stop, and `verify --tsa-cert` checks them."""
    from tests.recording.fix_tsa import LocalTsa

    tsa = LocalTsa()
    signer = keys.generate("test.example/regogate")
    key_file = tmp_path / "rec.key"
    keys.install_signer(key_file, signer)
    rec_dir = tmp_path / "recordings"
    with tsa.serving() as url:
        section = (
            f'[recording]\ndir = "{rec_dir}"\nkey_file = "{key_file}"\n'
            f'tsa_url = "{url}"\ntsa_interval = 0.5\n'
        )
        gw = make_gateway(extra=policy_section(policy_dir(tmp_path)) + section)
        with psycopg.connect(gw.dsn("analyst"), autocommit=True) as conn:
            conn.execute("select count(*) from customers")
        assert gw.process is not None
        assert gw.process.stop() == 0
    assert "checkpoints are timestamped by" in gw.process.log.read_text()
    tokens = (rec_dir / "timestamps.log").read_bytes().splitlines()
    entries, _ = split_checkpoints((rec_dir / CHECKPOINTS).read_bytes(), {})
    assert (
        tokens
        and tokens[-1].split(b" ")[0] == str(size_of(entries[-1][1].decode(), signer)).encode()
    )
    trust, cert = tmp_path / "trust.vkeys", tmp_path / "tsa.pem"
    trust.write_text(signer.verifier.vkey() + "\n")
    cert.write_bytes(tsa.ca_pem())
    checked = run("verify", "-d", rec_dir, "--trust", trust, "--tsa-cert", cert, "-v")
    assert checked.exit_code == 0, checked.output
    assert "tsa-timestamped" in checked.output
