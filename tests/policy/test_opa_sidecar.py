"""The real OPA sidecar: started, loaded with policies/rego, reloaded on edit, fail closed."""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest

from regogate.errors import ConfigError, PolicyUnavailable
from regogate.policy.opa import OpaClient
from regogate.policy.sidecar import OpaSidecar, PolicyLoader, find_opa

REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies" / "rego"
INPUT = {
    "identity": {"sub": "analyst", "groups": ["analysts"]},
    "statement": {"verb": "INSERT", "verbs": ["INSERT"]},
}

ALLOW_RULE = """# METADATA
# title: test allow
package regogate.rules.testallow

allow := true

deny := set()
"""


def test_sidecar_decides_reloads_and_fails_closed(tmp_path: Path) -> None:
    policies = tmp_path / "rego"
    shutil.copytree(REPO_POLICIES, policies)
    revisions: list[str] = []

    async def main() -> None:
        sidecar = OpaSidecar(
            find_opa(),
            lambda client: PolicyLoader(client, policies, revisions.append),
            watch_interval=0.1,
        )
        async with anyio.create_task_group() as tg:
            url = await tg.start(sidecar.run)
            client = OpaClient(url)
            first = await client.decide(INPUT, sidecar.loader.revision)
            assert not first.allow
            assert first.deny == ('no policy allows identity "analyst" to run INSERT',)
            assert first.revision.startswith("sha256:")

            # A policy edit takes effect without restarting anything.
            (policies / "regogate" / "testallow.rego").write_text(ALLOW_RULE)
            with anyio.fail_after(20):
                while len(revisions) < 2:
                    await anyio.sleep(0.05)
            second = await client.decide(INPUT, sidecar.loader.revision)
            assert second.allow
            assert second.revision != first.revision

            # An invalid edit is refused and the live revision stays.
            (policies / "regogate" / "broken.rego").write_text(
                "package regogate.rules.x\nallow if {"
            )
            await anyio.sleep(1.5)
            assert len(revisions) == 2
            (policies / "regogate" / "broken.rego").unlink()

            # OPA killed: decisions fail closed, then it is restarted and answers again.
            assert sidecar.restarts == 0
            import psutil

            for child in psutil.Process().children():
                if "opa" in child.name():
                    child.kill()
            with pytest.raises(PolicyUnavailable):
                for _ in range(100):
                    await client.decide(INPUT, sidecar.loader.revision)
                    await anyio.sleep(0.01)
            with anyio.fail_after(30):
                # Decide only once the restarted OPA has the whole bundle again.
                while not (sidecar.up and sidecar.restarts == 1):
                    await anyio.sleep(0.05)
                while True:
                    try:
                        third = await client.decide(INPUT, sidecar.loader.revision)
                        break
                    except PolicyUnavailable:
                        await anyio.sleep(0.1)
            assert third.allow
            assert sidecar.restarts == 1
            await client.aclose()
            tg.cancel_scope.cancel()

    anyio.run(main)


def test_unreachable_opa_is_policy_unavailable() -> None:
    async def main() -> None:
        client = OpaClient("http://127.0.0.1:9", timeout=0.2)
        with pytest.raises(PolicyUnavailable, match="policy engine is unavailable"):
            await client.decide(INPUT, "r")
        await client.aclose()

    anyio.run(main)


def test_a_failed_start_leaves_no_opa_and_no_socket(tmp_path: Path) -> None:
    import psutil

    policies = tmp_path / "rego"
    (policies / "regogate").mkdir(parents=True)
    (policies / "regogate" / "broken.rego").write_text("package regogate\nallow if {")

    async def main() -> None:
        sidecar = OpaSidecar(find_opa(), lambda c: PolicyLoader(c, policies, lambda _r: None))
        assert sidecar.socket_path is not None
        with pytest.raises(ConfigError, match="could not be loaded"):
            await sidecar.run()
        assert not [c for c in psutil.Process().children() if "opa" in c.name()]
        assert not sidecar.socket_path.parent.exists()

    anyio.run(main)


ENV_RULE = """# METADATA
# title: test env
package regogate.rules.testenv

deny contains sprintf("env %v", [opa.runtime().env])
"""


def test_policies_cannot_read_the_gateways_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OPA gets an allowlisted environment: a policy that echoes ``opa.runtime().env``
    into its reasons (which reach the client and the recording) sees no secret."""
    policies = tmp_path / "rego"
    shutil.copytree(REPO_POLICIES, policies)
    (policies / "regogate" / "testenv.rego").write_text(ENV_RULE)
    monkeypatch.setenv("REGOGATE_SIGNING_KEY", "PRIVATE+KEY+regogate+7f3a9c")
    monkeypatch.setenv("LEDGER_PG_PASSWORD", "upstream-Secret-7f3a9c")
    monkeypatch.setenv("LC_TIME", "C.UTF-8")
    monkeypatch.setenv("RG_STAGE", "prod-east")  # passed on by name ([policy] env)

    async def main() -> None:
        sidecar = OpaSidecar(
            find_opa(), lambda c: PolicyLoader(c, policies, lambda _r: None), env=["RG_STAGE"]
        )
        async with anyio.create_task_group() as tg:
            url = await tg.start(sidecar.run)
            client = OpaClient(url)
            decision = await client.decide(INPUT, sidecar.loader.revision)
            await client.aclose()
            tg.cancel_scope.cancel()
        (reason,) = [r for r in decision.deny if r.startswith("env ")]
        assert '"PATH"' in reason and '"LC_TIME"' in reason  # the rule does read the env
        assert '"RG_STAGE": "prod-east"' in reason
        assert "7f3a9c" not in reason
        assert "REGOGATE_SIGNING_KEY" not in reason and "LEDGER_PG_PASSWORD" not in reason

    anyio.run(main)
