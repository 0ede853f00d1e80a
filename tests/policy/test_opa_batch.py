"""Decision batches: the group-commit queue alone (pure anyio), then against the real OPA
sidecar (the same decisions as single requests; one item's failure stays its own)."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from regogate.errors import PolicyUnavailable
from regogate.policy.decision import Decision
from regogate.policy.opa import OpaClient
from regogate.policy.opa_batch import BatchRefused, DecisionBatcher
from regogate.policy.sidecar import OpaSidecar, PolicyLoader, find_opa

REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies" / "rego"


class FakeOpa:
    """Answers ``body.upper()``; each request takes ``delay`` seconds (and waits for
    ``single_gate`` or ``batch_gate`` when set); notes every request."""

    def __init__(self, delay: float = 0.02):
        self.delay = delay
        self.singles: list[bytes] = []
        self.batches: list[list[bytes]] = []
        self.refuse_batches = False
        self.fail_with: str | None = None  # each request fails with its own exception
        self.single_gate: anyio.Event | None = None
        self.batch_gate: anyio.Event | None = None

    async def _wait(self, gate: anyio.Event | None) -> None:
        if gate is not None:
            await gate.wait()
        await anyio.sleep(self.delay)
        if self.fail_with is not None:
            raise PolicyUnavailable(self.fail_with)

    async def single(self, body: bytes) -> bytes:
        self.singles.append(body)
        await self._wait(self.single_gate)
        return body.upper()

    async def many(self, bodies: list[bytes]) -> list[bytes]:
        self.batches.append(bodies)
        await self._wait(self.batch_gate)
        if self.refuse_batches:
            raise BatchRefused("HTTP 500")
        return [b.upper() for b in bodies]


def _gather(batcher: DecisionBatcher[bytes], bodies: list[bytes]) -> dict[bytes, object]:
    out: dict[bytes, object] = {}

    async def one(body: bytes) -> None:
        try:
            out[body] = await batcher.submit(body)
        except Exception as exc:
            out[body] = exc

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for body in bodies:
                tg.start_soon(one, body)

    anyio.run(main)
    return out


def test_a_lone_request_goes_at_once_and_alone() -> None:
    opa = FakeOpa()
    batcher = DecisionBatcher(opa.single, opa.many, max_inflight=2)
    assert _gather(batcher, [b"a"]) == {b"a": b"A"}
    assert opa.singles == [b"a"] and opa.batches == []


def test_requests_past_the_inflight_limit_share_one_request_each_their_own_answer() -> None:
    opa = FakeOpa()
    batcher = DecisionBatcher(opa.single, opa.many, max_inflight=1, max_batch=8, budget=10)
    bodies = [f"q{i}".encode() for i in range(20)]
    got = _gather(batcher, bodies)
    assert got == {b: b.upper() for b in bodies}
    assert opa.singles == [b"q0"]  # the first went alone; the rest waited and batched
    assert [len(b) for b in opa.batches] == [8, 8, 3]
    assert sorted(x for b in opa.batches for x in b) == sorted(bodies[1:])
    assert batcher.requests == 4 and batcher.batches == 3 and batcher.batched == 19
    assert batcher.waiting == 0


def test_a_batch_refused_as_a_whole_is_retried_one_request_per_item() -> None:
    opa = FakeOpa()
    opa.refuse_batches = True
    batcher = DecisionBatcher(opa.single, opa.many, max_inflight=1)
    bodies = [f"q{i}".encode() for i in range(6)]
    assert _gather(batcher, bodies) == {b: b.upper() for b in bodies}
    assert len(opa.batches) == 1 and sorted(opa.singles) == sorted(bodies)


def test_a_transport_failure_fails_every_decision_in_the_batch_closed() -> None:
    opa = FakeOpa()
    batcher = DecisionBatcher(opa.single, opa.many, max_inflight=1)
    opa.fail_with = "the policy engine is unavailable (timed out)"
    got = _gather(batcher, [f"q{i}".encode() for i in range(5)])
    assert all(isinstance(v, PolicyUnavailable) for v in got.values()), got
    assert len({id(v) for v in got.values()}) == 5  # each its own exception object


def test_a_cancelled_leader_leaves_the_others_to_ask_again() -> None:
    """The session of the waiter that took the batch to OPA ends meanwhile: the others in
    its batch are not failed, they go again."""
    opa = FakeOpa(delay=0.01)
    batcher = DecisionBatcher(opa.single, opa.many, max_inflight=1, budget=10)
    out: dict[bytes, object] = {}
    scopes: list[anyio.CancelScope] = []

    async def one(body: bytes) -> None:
        out[body] = await batcher.submit(body)

    async def lead() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await one(b"leader")

    async def main() -> None:
        opa.single_gate = anyio.Event()
        opa.batch_gate = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(one, b"first")  # in flight, held at the gate
            await anyio.sleep(0.01)
            tg.start_soon(lead)  # first in the queue: it takes the next batch
            await anyio.sleep(0.01)
            tg.start_soon(one, b"x")
            tg.start_soon(one, b"y")
            await anyio.sleep(0.01)
            assert batcher.waiting == 3
            opa.single_gate.set()
            with anyio.fail_after(5):
                while not opa.batches:
                    await anyio.sleep(0.005)
            assert opa.batches == [[b"leader", b"x", b"y"]]
            scopes[0].cancel()  # while its batch is at OPA
        opa.batch_gate.set()

    anyio.run(main)
    assert out == {b"first": b"FIRST", b"x": b"X", b"y": b"Y"}
    assert scopes[0].cancel_called and b"x" in opa.singles


def test_a_waiter_cancelled_in_the_queue_is_never_sent() -> None:
    opa = FakeOpa()
    batcher = DecisionBatcher(opa.single, opa.many, max_inflight=1)

    async def main() -> None:
        opa.single_gate = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(batcher.submit, b"first")
            await anyio.sleep(0.01)
            with anyio.move_on_after(0.01):
                await batcher.submit(b"gone")
            assert batcher.waiting == 0
            tg.start_soon(batcher.submit, b"later")
            await anyio.sleep(0.01)
            opa.single_gate.set()

    anyio.run(main)
    sent = opa.singles + [b for batch in opa.batches for b in batch]
    assert b"gone" not in sent and b"later" in sent


def test_limits_are_checked() -> None:
    opa = FakeOpa()
    with pytest.raises(ValueError, match="at least 1"):
        DecisionBatcher(opa.single, opa.many, max_inflight=0)


# -- the real OPA ---------------------------------------------------------------------------

CONFLICT_RULE = """package regogate.rules.conflict

# Two values for one complete rule: OPA refuses to evaluate this input (HTTP 500).
ttl := 1 if input.statement.verb == "BOOM"

ttl := 2 if input.statement.verb == "BOOM"
"""


def _input(verb: str, sub: str = "analyst") -> dict[str, object]:
    return {
        "identity": {"sub": sub, "groups": ["analysts"]},
        "statement": {"verb": verb, "verbs": [verb]},
    }


def _with_sidecar(policies: Path, body: Callable[[OpaSidecar], Awaitable[None]]) -> None:
    """Run ``body`` against a real sidecar loaded with ``policies`` (batches on)."""

    async def main() -> None:
        sidecar = OpaSidecar(
            find_opa(), lambda client: PolicyLoader(client, policies, lambda _: None)
        )
        async with anyio.create_task_group() as tg:
            await tg.start(sidecar.run)
            assert sidecar.client.batcher is not None  # the sidecar pushed the batch module
            await body(sidecar)
            tg.cancel_scope.cancel()

    anyio.run(main)


async def _decide_all(
    client: OpaClient, inputs: list[dict[str, object]], revision: str
) -> list[object]:
    """Every input's decision (or its PolicyUnavailable), all asked at once."""
    got: dict[int, object] = {}

    async def one(n: int) -> None:
        try:
            got[n] = await client.decide(inputs[n], revision)
        except PolicyUnavailable as exc:
            got[n] = exc

    async with anyio.create_task_group() as tg:
        for n in range(len(inputs)):
            tg.start_soon(one, n)
    return [got[n] for n in range(len(inputs))]


def test_batched_decisions_are_the_single_ones_and_one_error_stays_its_own(
    tmp_path: Path,
) -> None:
    policies = tmp_path / "rego"
    shutil.copytree(REPO_POLICIES, policies)
    (policies / "regogate" / "conflict.rego").write_text(CONFLICT_RULE)
    verbs = ["SELECT", "INSERT", "UPDATE", "DELETE", "CONNECT", "TRUNCATE", "COPY", "SET"]
    inputs = [_input(v, f"user{i}") for i, v in enumerate(verbs * 5)]

    async def body(sidecar: OpaSidecar) -> None:
        revision = sidecar.loader.revision
        single = OpaClient(sidecar.url)  # no batches: one request per decision
        expected = [await single.decide(i, revision) for i in inputs]
        await single.aclose()
        *got, boom = await _decide_all(sidecar.client, [*inputs, _input("BOOM")], revision)
        assert sidecar.client.batcher is not None and sidecar.client.batcher.batches >= 1
        assert got == expected
        assert isinstance(boom, PolicyUnavailable) and "HTTP 500" in boom.message

    _with_sidecar(policies, body)


UNDEFINED_POLICY = """package regogate

# Defined only for one verb: the others have no decision (the gateway fails them closed).
decision := {"allow": true, "deny": [], "mask": {}, "approval": {"required": false},
	"ttl": 0, "rules": ["only_select"]} if input.statement.verb == "SELECT"
"""


def test_an_undefined_decision_in_a_batch_fails_closed_alone(tmp_path: Path) -> None:
    policies = tmp_path / "rego"
    (policies / "regogate").mkdir(parents=True)
    (policies / "regogate" / "decision.rego").write_text(UNDEFINED_POLICY)
    verbs = ["SELECT" if n % 2 else "DELETE" for n in range(24)]

    async def body(sidecar: OpaSidecar) -> None:
        revision = sidecar.loader.revision
        got = await _decide_all(sidecar.client, [_input(v) for v in verbs], revision)
        assert sidecar.client.batcher is not None and sidecar.client.batcher.batches >= 1
        for verb, outcome in zip(verbs, got, strict=True):
            if verb == "SELECT":
                assert isinstance(outcome, Decision) and outcome.allow is True
            else:
                assert isinstance(outcome, PolicyUnavailable), outcome
                assert "undefined" in outcome.message

    _with_sidecar(policies, body)


def test_a_slow_policy_batches_less() -> None:
    """Batches are sized by the recent time per decision: a policy that takes 20 ms a
    decision gets batches of at most budget / 20 ms, never one that runs into the
    timeout."""
    opa = FakeOpa(delay=0.02)
    batcher = DecisionBatcher(opa.single, opa.many, max_inflight=1, budget=0.05)
    assert batcher.batch_limit() == 32  # nothing measured yet
    bodies = [f"q{i}".encode() for i in range(12)]
    assert _gather(batcher, bodies) == {b: b.upper() for b in bodies}
    assert batcher.per_decision > 0.004
    assert batcher.batch_limit() <= 12
    sizes = [len(b) for b in opa.batches]
    # after the first single (20 ms a decision): 0.05 / 0.02 = 2 a batch
    assert sizes[0] <= 2, sizes


def test_a_large_input_goes_alone_and_never_holds_up_a_batch() -> None:
    """An input past ``max_item`` bytes (slow to decide) is sent on its own at once, even
    with requests in flight; the small ones behind it still batch."""
    opa = FakeOpa()
    batcher = DecisionBatcher(opa.single, opa.many, max_inflight=1, max_item=100, budget=10)
    big = b"B" * 101
    bodies = [f"q{i}".encode() for i in range(6)] + [big]
    assert _gather(batcher, bodies) == {b: b.upper() for b in bodies}
    assert big in opa.singles
    assert all(big not in batch for batch in opa.batches)
    assert opa.batches and sum(len(b) for b in opa.batches) == 5
