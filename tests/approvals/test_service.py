"""The service's rules on a real SQLite store: separation of duties, distinct approvers,
single use, binding, expiry, withdrawal on restart, and waking a waiting holder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from regogate.approvals.binding import BoundStatement, bound_digest
from regogate.approvals.errors import (
    ApprovalConflict,
    ApprovalError,
    ApprovalForbidden,
    ApprovalMismatch,
)
from regogate.approvals.model import Person, Status, Verdict
from regogate.approvals.service import ApprovalService
from regogate.approvals.store_sqlite import open_sqlite_store
from tests.approvals.conftest import SQL, draft, person

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def run(
    tmp: Path, body: Callable[[ApprovalService, Clock], Awaitable[None]], instance: str = "gw-1"
) -> None:
    async def main() -> None:
        clock = Clock()
        async with open_sqlite_store(tmp / "a.db", poll=0.05) as store:
            await body(ApprovalService(store, instance=instance, clock=clock), clock)

    anyio.run(main)


def test_the_requester_never_approves_their_own_request(tmp_path: Path) -> None:
    async def body(svc: ApprovalService, _: Clock) -> None:
        # carol is in group dba, an approver group, and still may not approve her own
        r = await svc.create_request(draft("carol"))
        with pytest.raises(ApprovalForbidden, match="your own"):
            await svc.decide(person("carol"), r.id, Verdict.APPROVE)
        same_email = Person("carol@idp", "https://idp", ("dba",), "carol@example.com")
        with_email = Person("carol", "regogate:static", ("dba",), "Carol@Example.com")
        r2 = await svc.create_request(replace(draft("carol"), requester=with_email))
        with pytest.raises(ApprovalForbidden, match="your own"):
            await svc.decide(same_email, r2.id, Verdict.APPROVE)
        assert (await svc.get(r.id)).status is Status.PENDING

    run(tmp_path, body)


def test_only_named_approvers_decide(tmp_path: Path) -> None:
    async def body(svc: ApprovalService, _: Clock) -> None:
        r = await svc.create_request(draft(approvers=("group:dba", "user:dave")))
        with pytest.raises(ApprovalForbidden, match="approvers are"):
            await svc.decide(Person("erin", "regogate:static", ("ops",)), r.id, Verdict.APPROVE)
        done = await svc.decide(person("dave"), r.id, Verdict.APPROVE, "fine")  # user:dave
        assert done.status is Status.APPROVED
        nobody = await svc.create_request(draft(approvers=()))
        with pytest.raises(ApprovalForbidden, match="names no approvers"):
            await svc.decide(person("bob"), nobody.id, Verdict.APPROVE)

    run(tmp_path, body)


def test_min_approvals_counts_distinct_people(tmp_path: Path) -> None:
    async def body(svc: ApprovalService, _: Clock) -> None:
        r = await svc.create_request(draft(min_approvals=2))
        one = await svc.decide(person("bob"), r.id, Verdict.APPROVE, "one")
        assert one.status is Status.PENDING
        with pytest.raises(ApprovalConflict, match="already decided"):
            await svc.decide(person("bob"), r.id, Verdict.APPROVE)
        # bob again, signed in through another issuer with the same subject
        with pytest.raises(ApprovalConflict, match="already decided"):
            await svc.decide(Person("bob", "https://idp", ("dba",)), r.id, Verdict.APPROVE)
        two = await svc.decide(person("carol"), r.id, Verdict.APPROVE, "two")
        assert two.status is Status.APPROVED
        assert [v.approver.sub for v in two.votes] == ["bob", "carol"]

    run(tmp_path, body)


def test_deny_needs_a_reason_and_a_decided_request_stays_decided(tmp_path: Path) -> None:
    async def body(svc: ApprovalService, _: Clock) -> None:
        r = await svc.create_request(draft())
        with pytest.raises(ApprovalError, match="needs a reason"):
            await svc.decide(person("bob"), r.id, Verdict.DENY, "  ")
        denied = await svc.decide(person("bob"), r.id, Verdict.DENY, "not during close")
        assert denied.status is Status.DENIED
        with pytest.raises(ApprovalConflict, match="already denied"):
            await svc.decide(person("carol"), r.id, Verdict.APPROVE)
        with pytest.raises(ApprovalConflict, match="denied, not approved"):
            await svc.consume(r.id, r.bound_digest)

    run(tmp_path, body)


def test_an_approval_is_used_once_for_exactly_the_bound_statement(tmp_path: Path) -> None:
    bound = BoundStatement("UPDATE t SET v = $1 WHERE id = $2", (0, 0), (b"10", b"42"), (0,))
    changed = BoundStatement(bound.sql, (0, 0), (b"10", b"43"), (0,))
    digest = bound_digest(KEY, bound)

    async def body(svc: ApprovalService, _: Clock) -> None:
        r = await svc.create_request(draft(sql=bound.sql, digest=digest))
        await svc.decide(person("bob"), r.id, Verdict.APPROVE)
        used = await svc.consume(r.id, bound_digest(KEY, bound))
        assert used.status is Status.CONSUMED
        with pytest.raises(ApprovalConflict, match="used once"):
            await svc.consume(r.id, digest)

        r2 = await svc.create_request(draft(sql=bound.sql, digest=digest))
        await svc.decide(person("bob"), r2.id, Verdict.APPROVE)
        with pytest.raises(ApprovalMismatch, match="other parameter values"):
            await svc.consume(r2.id, bound_digest(KEY, changed))
        assert (await svc.get(r2.id)).status is Status.WITHDRAWN
        with pytest.raises(ApprovalConflict):  # the right statement cannot use it now
            await svc.consume(r2.id, digest)

    run(tmp_path, body)


def test_a_pending_request_expires(tmp_path: Path) -> None:
    async def body(svc: ApprovalService, clock: Clock) -> None:
        r = await svc.create_request(draft(timeout=30))
        clock.now += 31
        with pytest.raises(ApprovalConflict, match="expired"):
            await svc.decide(person("bob"), r.id, Verdict.APPROVE)
        assert (await svc.get(r.id)).status is Status.EXPIRED
        r2 = await svc.create_request(draft(timeout=30))
        clock.now += 31
        assert [x.id for x in await svc.expire_due()] == [r2.id]
        assert (await svc.wait(r2.id)).status is Status.EXPIRED

    run(tmp_path, body)


def test_wait_returns_expired_after_the_timeout_in_real_time(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_sqlite_store(tmp_path / "a.db", poll=0.05) as store:
            svc = ApprovalService(store, instance="gw")
            r = await svc.create_request(draft(timeout=0.3))
            assert (await svc.wait(r.id)).status is Status.EXPIRED

    anyio.run(main)


def test_a_waiting_holder_wakes_when_approved(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_sqlite_store(tmp_path / "a.db", poll=60) as store:
            svc = ApprovalService(store, instance="gw")
            r = await svc.create_request(draft())
            seen = []

            async def holder() -> None:
                seen.append(await svc.wait(r.id))

            async with anyio.create_task_group() as tg:
                tg.start_soon(holder)
                await anyio.sleep(0.1)
                start = anyio.current_time()
                await svc.decide(person("bob"), r.id, Verdict.APPROVE)
            assert anyio.current_time() - start < 2  # woken, not polled (poll=60)
            assert seen[0].status is Status.APPROVED
            assert (await svc.consume(r.id, r.bound_digest)).status is Status.CONSUMED

    anyio.run(main)


def test_restart_withdraws_this_instances_pending_and_keeps_decided(tmp_path: Path) -> None:
    async def first(svc: ApprovalService, _: Clock) -> None:
        pending = await svc.create_request(draft())
        decided = await svc.create_request(draft())
        await svc.decide(person("bob"), decided.id, Verdict.APPROVE, "ok")
        ids.extend([pending.id, decided.id])

    async def other(svc: ApprovalService, _: Clock) -> None:
        ids.append((await svc.create_request(draft())).id)

    async def restarted(svc: ApprovalService, _: Clock) -> None:
        withdrawn = await svc.recover()
        assert [w.id for w in withdrawn] == [ids[0]]
        assert (await svc.get(ids[0])).status is Status.WITHDRAWN
        kept = await svc.get(ids[1])
        assert kept.status is Status.APPROVED
        assert kept.votes[0].comment == "ok"
        assert (await svc.get(ids[2])).status is Status.PENDING  # another gateway's

    ids: list[str] = []
    run(tmp_path, first, "gw-1")
    run(tmp_path, other, "gw-2")
    run(tmp_path, restarted, "gw-1")


def test_the_display_text_has_no_literals(tmp_path: Path) -> None:
    async def body(svc: ApprovalService, _: Clock) -> None:
        r = await svc.create_request(draft())
        assert "Mallory" not in r.display_text
        assert "98765" not in r.display_text
        assert r.display_text.startswith("UPDATE accounts SET balance = balance - $1")
        assert r.display_text != SQL

    run(tmp_path, body)
