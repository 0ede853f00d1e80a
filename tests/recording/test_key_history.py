"""The signed key history: each entry signed by the key before it, checked entry by entry."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from regogate.recording.format.key_history import (
    HistoryEntry,
    HistoryError,
    check_chain,
    entry_line,
    parse_trust,
    sign_entry,
)
from regogate.recording.format.note import Signer

NAME = "bank.example/regogate/test/dep-0123456789abcdef"
TIMES = [f"2026-0{m}-01T00:00:00.000000Z" for m in range(1, 5)]
A, B, C, D = (Signer.generate(NAME) for _ in range(4))


def history(signers: list[Signer] | None = None) -> list[HistoryEntry]:
    out: list[HistoryEntry] = []
    chain = signers or [A, B, C]
    for i, signer in enumerate(chain):
        by = chain[i - 1] if i else signer
        previous = chain[i - 1].verifier if i else None
        out.append(sign_entry(by, i, previous, signer.verifier, TIMES[i]))
    return out


def test_a_sound_history() -> None:
    entries = history()
    assert check_chain(entries).valid == 3 and check_chain(entries).problem is None
    text = "# comment\n\n" + "".join(entry_line(e) for e in entries)
    parsed = parse_trust(text)
    assert parsed.history == entries and parsed.keys == [A.verifier, B.verifier, C.verifier]
    assert [e.line for e in parsed.history] == [3, 4, 5]
    assert check_chain(parsed.history).problem is None


def _swap_key(h: list[HistoryEntry]) -> list[HistoryEntry]:
    return [h[0], HistoryEntry(D.verifier, h[1].activated, h[1].signature), h[2]]


def _retime(h: list[HistoryEntry]) -> list[HistoryEntry]:
    return [h[0], HistoryEntry(h[1].verifier, TIMES[3], h[1].signature), h[2]]


def _append_self_signed(h: list[HistoryEntry]) -> list[HistoryEntry]:
    return [*h, sign_entry(D, 3, None, D.verifier, TIMES[3])]


def _append_signed_by_a_retired_key(h: list[HistoryEntry]) -> list[HistoryEntry]:
    forged = sign_entry(A, 0, None, A.verifier, TIMES[0])  # A's own signature, index 0
    return [*h, HistoryEntry(D.verifier, TIMES[3], forged.signature)]


def _drop_middle(h: list[HistoryEntry]) -> list[HistoryEntry]:
    return [h[0], h[2]]


def _swap_order(h: list[HistoryEntry]) -> list[HistoryEntry]:
    return [h[0], h[2], h[1]]


def _another_first(h: list[HistoryEntry]) -> list[HistoryEntry]:
    return [sign_entry(D, 0, None, D.verifier, TIMES[0]), *h[1:]]


@pytest.mark.parametrize(
    ("tamper", "valid", "problem"),
    [
        (_swap_key, 1, "entry 1 (key"),
        (_retime, 1, "is not signed by the key of the entry before it"),
        (_append_self_signed, 3, "entry 3"),
        (_append_signed_by_a_retired_key, 3, "entry 3"),
        (_drop_middle, 1, "entry 1"),
        (_swap_order, 1, "entry 1"),
        (_another_first, 1, "entry 1"),
    ],
)
def test_tampering_stops_the_chain(
    tamper: Callable[[list[HistoryEntry]], list[HistoryEntry]], valid: int, problem: str
) -> None:
    check = check_chain(tamper(history()))
    assert check.valid == valid
    assert check.problem is not None and problem in check.problem


def test_a_key_is_never_reused_and_times_do_not_go_back() -> None:
    again = sign_entry(B, 2, B.verifier, A.verifier, TIMES[2])
    check = check_chain([*history([A, B]), again])
    assert check.valid == 2 and "appears twice" in (check.problem or "")
    back = sign_entry(A, 1, A.verifier, B.verifier, "2025-01-01T00:00:00.000000Z")
    check = check_chain([history([A])[0], back])
    assert check.valid == 1 and "activated before" in (check.problem or "")


def test_only_the_previous_key_may_sign() -> None:
    with pytest.raises(HistoryError, match="signed by the previous entry's key"):
        sign_entry(C, 1, A.verifier, B.verifier, TIMES[1])
    with pytest.raises(HistoryError, match="not a record timestamp"):
        sign_entry(A, 0, None, A.verifier, "yesterday")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("nonsense\n", 1, "malformed verifier key"),
        (f"{A.verifier.vkey()} {TIMES[0]}\n", 1, "want '<verifier key> <activation time>"),
        (f"{A.verifier.vkey()} yesterday sig\n", 1, "want"),
        (f"{A.verifier.vkey()}\n{entry_line(history()[0])}", 2, "mixes"),
    ],
)
def test_malformed_trust_files(text: str, line: int, message: str) -> None:
    with pytest.raises(HistoryError, match=message) as err:
        parse_trust(text)
    assert err.value.line == line


def test_a_plain_list() -> None:
    parsed = parse_trust(f"# examiner's keys\n{A.verifier.vkey()}\n{B.verifier.vkey()}\n")
    assert parsed.history is None and parsed.keys == [A.verifier, B.verifier]
