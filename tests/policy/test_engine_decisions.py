"""The engine's decisions with a fake source and a fake clock: the ttl of cached
decisions, a policy revision change, and the fail-closed wait while OPA is unavailable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import anyio
import pytest

from regogate.errors import PolicyUnavailable
from regogate.policy.catalog_cache import CatalogCache
from regogate.policy.decision import Decision
from regogate.policy.engine import PolicyEngine

INPUT = {"identity": {"sub": "a"}, "statement": {"verb": "SELECT"}}


@dataclass
class FakeSource:
    ttl: float = 30.0
    asked: list[str] = field(default_factory=list)

    async def decide(self, policy_input: Mapping[str, object], revision: str) -> Decision:
        self.asked.append(revision)
        return Decision(True, ttl=self.ttl, revision=revision)


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


class NoCatalog:
    async def read(self, conn: object, previous: object) -> object:
        raise AssertionError("no catalog in these tests")


def engine(
    source: FakeSource, clock: Clock, revision: list[str], available: list[bool] | None = None
) -> PolicyEngine:
    return PolicyEngine(
        source,
        CatalogCache(NoCatalog()),  # type: ignore[arg-type]
        revision=lambda: revision[0],
        clock=clock,
        available=(lambda: available[0]) if available is not None else None,
        wait_limit=0.2,
    )


def decide(e: PolicyEngine) -> bool:
    async def go() -> bool:
        return (await e.decide(INPUT)).cached

    return anyio.run(go)


# (ttl of the decision, seconds later, asked again?)
@pytest.mark.parametrize(
    ("ttl", "later", "asked_again"),
    [(30.0, 0.0, False), (30.0, 29.0, False), (30.0, 31.0, True), (0.0, 0.0, True)],
)
def test_ttl(ttl: float, later: float, asked_again: bool) -> None:
    source, clock = FakeSource(ttl=ttl), Clock()
    e = engine(source, clock, ["r1"])
    assert decide(e) is False
    clock.now += later
    assert decide(e) is (not asked_again)
    assert len(source.asked) == (2 if asked_again else 1)


def test_a_new_revision_is_never_answered_from_the_old_cache() -> None:
    source, clock, revision = FakeSource(), Clock(), ["r1"]
    e = engine(source, clock, revision)
    decide(e)
    revision[0] = "r2"  # e.g. an external OPA loaded a new bundle unannounced
    assert decide(e) is False
    assert source.asked == ["r1", "r2"]


def test_unavailable_waits_then_fails_closed() -> None:
    source, clock, available = FakeSource(), Clock(), [False]
    e = engine(source, clock, ["r1"], available)
    with pytest.raises(PolicyUnavailable):
        decide(e)
    assert source.asked == []
    assert e.stats.unavailable == 1


def test_unavailable_then_back_within_the_wait() -> None:
    source, clock, available = FakeSource(), Clock(), [False]
    e = engine(source, clock, ["r1"], available)

    async def go() -> bool:
        async with anyio.create_task_group() as tg:

            async def back() -> None:
                await anyio.sleep(0.05)
                available[0] = True

            tg.start_soon(back)
            decided = await e.decide(INPUT)
        return decided.decision.allow

    assert anyio.run(go) is True
    assert source.asked == ["r1"]
