"""OIDC sign-in to the page over real HTTP against the local test issuer, walked by hand
(httpx): the redirect with state, nonce and PKCE, the flow cookie, and every way a
callback is refused (wrong state, no sign-in in progress, a replayed code, a nonce that
is not this sign-in's, an ID token for another audience, the issuer saying no): a
readable page, no session, and never the code in the page or the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest

from regogate.approvals.model import Status
from regogate.approvals.oidc_flow import FLOW_COOKIE
from regogate.approvals.running import start_approvals
from regogate.approvals.web_session import SESSION_COOKIE
from regogate.pgserver import free_port
from tests.approvals.conftest import TOKENS, Served, draft
from tests.approvals.fix_oidc_page import (
    CLIENT_ID,
    Answer,
    authorize,
    callback,
    issuer,
    oidc_config,
    serve_oidc,
)
from tests.identity.issuer import AUDIENCE, LocalIssuer

__all__ = ["issuer"]  # the fixture, imported


@pytest.fixture
def served(tmp_path: Path, issuer: LocalIssuer) -> Iterator[Served]:
    issuer.id_token_overrides = {}
    with serve_oidc(oidc_config(tmp_path, issuer.issuer), issuer) as s:
        yield s


def set_cookies(response: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie") if "=" in h}


def code_of(answer: Answer) -> str:
    return parse_qs(urlsplit(answer.callback).query)["code"][0]


def test_login_redirects_to_the_issuer_with_state_nonce_and_pkce(
    served: Served, issuer: LocalIssuer
) -> None:
    start = httpx.get(f"{served.url}/login")
    assert start.status_code == 303
    target = urlsplit(start.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{issuer.issuer}/auth"
    query = {k: v[-1] for k, v in parse_qs(target.query).items()}
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{served.url}/callback"
    assert query["scope"].split() == ["openid", "profile", "email"]
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) == 43 and len(query["nonce"]) == 43
    flow = set_cookies(start)[FLOW_COOKIE]
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/callback", "Max-Age=600"):
        assert attribute in flow
    seed = start.cookies[FLOW_COOKIE]
    assert seed not in start.headers["location"]


def test_the_callback_signs_in_and_the_session_decides(
    served: Served, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="regogate")
    r = served.create(draft())
    answer = authorize(served.url, issuer, "bob")
    done = callback(answer)
    assert done.status_code == 200, done.text
    assert '<meta http-equiv="refresh" content="0; url=/">' in done.text
    cookies = set_cookies(done)
    assert "HttpOnly; Secure; SameSite=Strict" in cookies[SESSION_COOKIE]
    assert "Max-Age=0" in cookies[FLOW_COOKIE] and "Path=/callback" in cookies[FLOW_COOKIE]
    sent = issuer.token_requests[-1]
    assert sent["code_verifier"] and sent["client_id"] == CLIENT_ID
    session = {SESSION_COOKIE: done.cookies[SESSION_COOKIE]}
    page = httpx.get(f"{served.url}/requests/{r.id}", cookies=session)
    assert page.status_code == 200 and '<span class="me">bob</span>' in page.text
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    decided = httpx.post(
        f"{served.url}/requests/{r.id}/decide",
        cookies=session,
        data={"verdict": "approve", "csrf": csrf},
    )
    assert decided.status_code == 303
    approved = served.get(r.id)
    assert approved.status is Status.APPROVED
    assert (approved.votes[0].approver.sub, approved.votes[0].approver.issuer) == (
        "bob",
        issuer.issuer,
    )
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("regogate"))
    assert "bob (issuer" in ours and code_of(answer) not in ours
    # back or reload: the answer was used, the session stands
    again = callback(answer, flow="")
    assert again.status_code == 400
    reload = httpx.get(answer.callback, cookies=session)
    assert reload.status_code == 303 and reload.headers["location"] == "/"


def refused(response: httpx.Response, status: int, message: str, answer: Answer) -> None:
    assert response.status_code == status, response.text
    assert "Sign-in failed" in response.text and message in response.text
    assert SESSION_COOKIE not in set_cookies(response)
    assert "Max-Age=0" in set_cookies(response)[FLOW_COOKIE]
    assert code_of(answer) not in response.text and "Traceback" not in response.text
    assert 'href="/login/oidc"' in response.text  # try again


def test_a_wrong_state_is_refused(served: Served, issuer: LocalIssuer) -> None:
    answer = authorize(served.url, issuer, "bob")
    state = parse_qs(urlsplit(answer.callback).query)["state"][0]
    forged = answer.callback.replace(state, "A" * 43)
    refused(callback(answer, url=forged), 400, "its state differs", answer)
    # another browser's answer: the state is not the one of this browser's cookie
    mine = authorize(served.url, issuer, "bob")
    refused(callback(answer, flow=mine.flow_cookie), 400, "its state differs", answer)
    refused(callback(answer, flow=""), 400, "no sign-in is in progress", answer)


def test_a_replayed_code_is_refused(served: Served, issuer: LocalIssuer) -> None:
    answer = authorize(served.url, issuer, "bob")
    assert callback(answer).status_code == 200
    refused(callback(answer), 401, "invalid_grant", answer)


def test_an_id_token_with_another_nonce_is_refused(served: Served, issuer: LocalIssuer) -> None:
    issuer.id_token_overrides = {"nonce": "a-nonce-of-another-sign-in"}
    answer = authorize(served.url, issuer, "bob")
    refused(callback(answer), 401, "its nonce differs", answer)


def test_an_id_token_for_another_audience_is_refused(served: Served, issuer: LocalIssuer) -> None:
    # the gateway takes this audience from clients; it is not the page's client id
    issuer.id_token_overrides = {"aud": AUDIENCE}
    answer = authorize(served.url, issuer, "bob")
    refused(callback(answer), 401, "wrong audience", answer)


def test_the_issuer_saying_no_is_shown(served: Served, issuer: LocalIssuer) -> None:
    answer = authorize(served.url, issuer, "")
    assert "error=access_denied" in answer.callback
    response = callback(answer)
    assert response.status_code == 401
    assert "did not sign you in: &#34;access_denied&#34;" in response.text


def test_oidc_only_refuses_the_token_form(served: Served) -> None:
    login = httpx.post(f"{served.url}/login", data={"token": TOKENS["bob"][0], "csrf": "x"})
    assert login.status_code == 403 and "use single sign-on" in login.text
    out = httpx.get(f"{served.url}/login?signed_out=1")
    assert out.status_code == 200 and "You have signed out" in out.text
    assert 'href="/login/oidc"' in out.text and 'id="token"' not in out.text
    # the API still takes bearer tokens
    api = httpx.get(
        f"{served.url}/api/v1/whoami", headers={"Authorization": f"Bearer {TOKENS['bob'][0]}"}
    )
    assert api.status_code == 200


def test_both_ways_when_the_token_form_is_kept(tmp_path: Path, issuer: LocalIssuer) -> None:
    config = oidc_config(tmp_path, issuer.issuer, "page_token_form = true\n")
    with serve_oidc(config, issuer) as s:
        page = httpx.get(f"{s.url}/login")
        assert page.status_code == 200
        assert 'href="/login/oidc"' in page.text and 'id="token"' in page.text
        assert callback(authorize(s.url, issuer, "carol")).status_code == 200


def test_an_unreachable_issuer_is_a_readable_page(tmp_path: Path, issuer: LocalIssuer) -> None:
    config = oidc_config(tmp_path, "http://127.0.0.1:9/realms/gone")
    with serve_oidc(config, issuer) as s:
        page = httpx.get(f"{s.url}/login")
        assert page.status_code == 503
        assert "cannot fetch http://127.0.0.1:9/realms/gone/.well-known" in page.text
        assert FLOW_COOKIE not in set_cookies(page)


def test_without_an_issuer_there_is_no_callback(tmp_path: Path) -> None:
    from tests.approvals.conftest import make_config, serve

    with serve(make_config(tmp_path)) as s:
        assert httpx.get(f"{s.url}/callback?code=x&state=y").status_code == 404
        assert httpx.get(f"{s.url}/login/oidc").status_code == 404
        assert 'id="token"' in httpx.get(f"{s.url}/login").text


def test_regogate_serve_wires_oidc_sign_in(tmp_path: Path, issuer: LocalIssuer) -> None:
    """The service as ``regogate serve`` starts it (``start_approvals``), not the test
    harness: with ``oidc_client_id`` its /login goes to the issuer, back to public_url."""
    port = free_port()
    public = f"http://localhost:{port}"
    config = oidc_config(tmp_path, issuer.issuer, f'public_url = "{public}"\n')
    config = replace(config, approvals=replace(config.approvals, listen_port=port))

    async def main() -> httpx.Response:
        async with start_approvals(config) as running:
            assert running.url == public
            async with httpx.AsyncClient() as client:
                return await client.get(f"http://127.0.0.1:{port}/login")

    start = anyio.run(main)
    assert start.status_code == 303
    target = urlsplit(start.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{issuer.issuer}/auth"
    assert parse_qs(target.query)["redirect_uri"] == [f"{public}/callback"]
