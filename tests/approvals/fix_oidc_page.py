"""The approvals page with OIDC sign-in against the local test issuer
(tests/identity/issuer.py), served over real HTTP from a blocking portal as conftest's
``serve`` does, and helpers that walk the sign-in by hand (httpx, no browser).

The page is served here rather than by ``start_approvals``: this builds the handler with
``sign_in_methods(config, url)`` for the URL the listener got (port 0), the one wiring
``start_approvals`` needs too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from regogate.approvals.app import approvals_app
from regogate.approvals.http_server import listen
from regogate.approvals.oidc_flow import FLOW_COOKIE
from regogate.approvals.page_sign_in import sign_in_methods
from regogate.approvals.running import RunningApprovals, open_store
from regogate.approvals.service import ApprovalService
from regogate.approvals.web_session import WebSessions
from regogate.config import Config
from regogate.oidc.provider import identity_chain
from tests.approvals.conftest import Served, make_config
from tests.identity.issuer import AUDIENCE, LocalIssuer

CLIENT_ID = "regogate-approvals-page"
PEOPLE = {"alice": ["dev"], "bob": ["dba"], "carol": ["dba", "dev"], "dave": ["ops"]}


def new_issuer() -> LocalIssuer:
    issuer = LocalIssuer("approvals")
    for name, groups in PEOPLE.items():
        issuer.add_user(name, groups, f"{name}@example.test")
    return issuer


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    """A module's issuer with PEOPLE (import it into the test module to use it)."""
    iss = new_issuer()
    yield iss
    iss.close()


def oidc_config(tmp: Path, issuer: str, extra: str = "") -> Config:
    """[approvals] with OIDC sign-in for ``issuer``, which the gateway trusts in [[oidc]]
    for clients' tokens of the audience AUDIENCE."""
    return make_config(
        tmp,
        f'oidc_client_id = "{CLIENT_ID}"\n{extra}'
        f'[[oidc]]\nissuer = "{issuer}"\naudience = "{AUDIENCE}"\n',
    )


@asynccontextmanager
async def start_page(config: Config) -> AsyncIterator[RunningApprovals]:
    cfg = config.approvals
    async with open_store(cfg) as store, anyio.create_task_group() as tg:
        service = ApprovalService(store, instance=cfg.instance, timeout=cfg.timeout)
        server = await listen(cfg.listen_host, 0)
        # localhost: Chromium keeps Secure cookies over plain http only there.
        url = f"http://localhost:{server.port}"
        handler = approvals_app(
            service,
            identity_chain(config),
            WebSessions(cfg.page_session_seconds),
            sign_in_methods(config, url),
        )
        tg.start_soon(server.serve, handler)
        try:
            yield RunningApprovals(service, b"k" * 32, url, server.port)
        finally:
            tg.cancel_scope.cancel()


@contextmanager
def serve_oidc(config: Config, issuer: LocalIssuer) -> Iterator[Served]:
    """The page, with its redirect URL registered at ``issuer``."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(start_page(config)) as running,
    ):
        issuer.register_client(CLIENT_ID, f"{running.url}/callback")
        yield Served(portal, running)


@dataclass
class Answer:
    """The issuer's answer to an authorization request, on its way back to the page."""

    flow_cookie: str
    callback: str  # the URL the issuer sends the browser to


def authorize(page_url: str, issuer: LocalIssuer, user: str) -> Answer:
    """What a browser does up to the callback: /login/oidc, then the issuer's
    authorization endpoint, signing ``user`` in at once ("" cancels)."""
    start = httpx.get(f"{page_url}/login/oidc")
    assert start.status_code == 303, start.text
    issuer.auto_sign_in = user
    try:
        answer = httpx.get(start.headers["location"])
    finally:
        issuer.auto_sign_in = None
    assert answer.status_code == 302, answer.text
    return Answer(start.cookies[FLOW_COOKIE], answer.headers["location"])


def callback(answer: Answer, *, url: str | None = None, flow: str | None = None) -> httpx.Response:
    # httpx keeps a Secure cookie only for https: hand it back by name
    cookie = answer.flow_cookie if flow is None else flow
    cookies = {FLOW_COOKIE: cookie} if cookie else {}
    return httpx.get(url or answer.callback, cookies=cookies)
