"""The upstream half of the relay with a result hook: what reaches the client is the
upstream's bytes, message for message, however TCP cut them, with the hook's changes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from regogate.proxy.session import _State, relay_frames
from regogate.wire.framing import Frame, MessageReader

STREAM = (
    Frame(b"2", b"").encode()
    + Frame(b"D", b"\x00\x01\x00\x00\x00\x0242").encode()
    + Frame(b"C", b"SELECT 1\x00").encode()
    + Frame(b"Z", b"T").encode()
)


class Passing:
    active = True

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def on_backend(self, frame: Frame) -> Sequence[Frame]:
        self.seen.append(frame.tag)
        return (frame,)


class Rewriting(Passing):
    """Swaps every DataRow for two (as a masking hook might)."""

    def on_backend(self, frame: Frame) -> Sequence[Frame]:
        super().on_backend(frame)
        if frame.tag == b"D":
            return (Frame(b"D", b"\x00\x00"), Frame(b"D", b"\x00\x00"))
        return (frame,)


def relay(chunks: list[bytes], hook: Passing) -> tuple[bytes, list[bool], _State]:
    reader, state = MessageReader(), _State()
    out, boundaries = b"", []
    for chunk in chunks:
        data, boundary = relay_frames(chunk, reader, hook, state)
        out += data
        boundaries.append(boundary)
    return out, boundaries, state


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, len(STREAM) - 1, len(STREAM)])
def test_unchanged_messages_reach_the_client_as_sent(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    hook = Passing()
    out, boundaries, state = relay(chunks, hook)
    assert out == STREAM
    assert hook.seen == [b"2", b"D", b"C", b"Z"]
    assert boundaries[-1] and sum(boundaries) == 1
    assert state.txn_status == b"T"


def test_a_whole_chunk_passed_unchanged_is_the_same_object() -> None:
    out, _, _ = relay([STREAM], Passing())
    assert out is STREAM  # nothing encoded again


@pytest.mark.parametrize("size", [1, 4, len(STREAM)])
def test_changed_messages_are_encoded_in_place(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    out, _, _ = relay(chunks, Rewriting())
    row = Frame(b"D", b"\x00\x00").encode()
    assert out == STREAM.replace(Frame(b"D", b"\x00\x01\x00\x00\x00\x0242").encode(), row + row)


def test_an_upstream_fatal_is_noticed() -> None:
    fatal = Frame(b"E", b"SFATAL\x00C57P01\x00Mbye\x00\x00").encode()
    _, _, state = relay([fatal], Passing())
    assert state.upstream_fatal
