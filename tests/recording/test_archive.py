"""Old segments move out of a live recording directory (`regogate archive`); the writer
starts without them (frontier.json) and `regogate verify --archive` spans both."""

from __future__ import annotations

from pathlib import Path

from regogate.recording.format.directory import list_segments
from regogate.recording.format.layout import FRONTIER
from regogate.recording.write import keys
from tests.cli.test_recording_cli import run
from tests.recording.conftest import everything, write_log


def live_log(tmp_path: Path) -> tuple[Path, Path, Path]:
    key = tmp_path / "signing.key"
    assert run("keys", "generate", "--key", key, "--name", "bank.example/regogate").exit_code == 0
    live = tmp_path / "live"
    for _ in range(3):
        write_log(live, keys.load_signer(key), everything(), segment_bytes=4096)
    return live, tmp_path / "archive", key


def test_archived_segments_are_verified_across_both_and_the_writer_goes_on(
    tmp_path: Path,
) -> None:
    live, target, key = live_log(tmp_path)
    before = [name for _, name in list_segments(live)]
    done = run("archive", "-d", live, "--to", target, "--keep", "0")
    assert done.exit_code == 0, done.output
    moved = [name for _, name in list_segments(target)]
    assert moved and moved == before[: len(moved)]
    assert [name for _, name in list_segments(live)] == before[len(moved) :]
    assert f"--archive {target}" in done.output

    alone = run("verify", "-d", live, "--key", key)
    assert alone.exit_code == 1 and "segment" in alone.output  # the live part alone has a gap
    both = run("verify", "-d", live, "--key", key, "--archive", target)
    assert both.exit_code == 0, both.output

    # A new boot continues the live log without the archived segments...
    write_log(live, keys.load_signer(key), everything(), segment_bytes=4096)
    assert run("verify", "-d", live, "--key", key, "--archive", target).exit_code == 0
    # ...and archiving again moves only what the writer no longer reads.
    again = run("archive", "-d", live, "--to", target)
    assert again.exit_code == 0, again.output
    assert len(list_segments(live)) >= 2  # the writer's segment and --keep 1
    assert run("verify", "-d", live, "--key", key, "--archive", target).exit_code == 0


def test_nothing_is_archived_without_a_frontier(tmp_path: Path) -> None:
    live, target, _ = live_log(tmp_path)
    (live / FRONTIER).unlink()
    done = run("archive", "-d", live, "--to", target)
    assert done.exit_code == 2
    assert "no valid frontier.json" in done.output
    assert not target.exists() or not list_segments(target)


def test_a_differing_copy_in_the_archive_is_never_replaced(tmp_path: Path) -> None:
    live, target, _ = live_log(tmp_path)
    target.mkdir()
    first = list_segments(live)[0][1]
    (target / first).write_bytes(b"something else\n")
    done = run("archive", "-d", live, "--to", target, "--keep", "0")
    assert done.exit_code == 2 and "differs" in done.output
    assert (live / first).exists()
