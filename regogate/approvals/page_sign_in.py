"""Signing in to the page: with OIDC (authorization code with PKCE) when an issuer is
configured, with the token form when that is on, or both; and what a sign-in starts: a
page session (web_session.py). The routes /login, /login/oidc and /callback."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Protocol

import httpx

from regogate.approvals.auth import Authenticator, client_of
from regogate.approvals.http_server import HttpRequest, HttpResponse
from regogate.approvals.oidc_flow import (
    CALLBACK_PATH,
    FLOW_COOKIE,
    FLOW_SECONDS,
    SignInFlow,
    authorization_code,
    check_state,
)
from regogate.approvals.oidc_login import oidc_sign_in
from regogate.approvals.page_render import Templates, redirect
from regogate.approvals.web_session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    WebSessions,
    cookie,
    same_token,
)
from regogate.config import Config
from regogate.errors import AuthenticationFailed
from regogate.identity import Identity

log = logging.getLogger("regogate.approvals")

LOGIN_PATH = "/login"
OIDC_START_PATH = "/login/oidc"
PATHS = frozenset({LOGIN_PATH, OIDC_START_PATH, CALLBACK_PATH})


class IdentityProviderSignIn(Protocol):
    """An OIDC issuer the page signs people in with (oidc_login.OidcSignIn)."""

    async def authorization_url(self, flow: SignInFlow) -> str: ...

    async def finish(self, flow: SignInFlow, code: str) -> Identity: ...


@dataclass(frozen=True)
class SignInMethods:
    """How people sign in to the page: an OIDC issuer, the token form, or both."""

    oidc: IdentityProviderSignIn | None = None
    token_form: bool = True


def sign_in_methods(
    config: Config, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None
) -> SignInMethods:
    """The sign-in of ``config``'s [approvals]; the page is reached at ``base_url``."""
    oidc = oidc_sign_in(config, base_url, transport=transport)
    return SignInMethods(oidc, config.approvals.page_token_form)


def flow_cookie(value: str, max_age: int) -> tuple[str, str]:
    # SameSite=Lax, not Strict: the issuer sends the browser back to /callback with a
    # cross-site navigation, on which a Strict cookie would not be sent. Lax is sent on
    # that top-level GET and nowhere else cross-site; the cookie holds only the seed of
    # this one sign-in, for 10 minutes, and only for the path /callback.
    return cookie(FLOW_COOKIE, value, max_age, same_site="Lax", path=CALLBACK_PATH)


class SignInPages:
    def __init__(
        self,
        templates: Templates,
        auth: Authenticator,
        sessions: WebSessions,
        methods: SignInMethods,
    ):
        self._templates = templates
        self._auth = auth
        self._sessions = sessions
        self._methods = methods

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        path, method = request.path, request.method
        oidc = self._methods.oidc
        if path == LOGIN_PATH and method == "POST":
            return await self._token_sign_in(request)
        if path == LOGIN_PATH and method == "GET":
            if oidc is not None and not self._methods.token_form and not request.query:
                return await self._start(oidc)
            return self.login_page(200, signed_out="signed_out" in request.query)
        if oidc is not None and method == "GET" and path == OIDC_START_PATH:
            return await self._start(oidc)
        if oidc is not None and method == "GET" and path == CALLBACK_PATH:
            return await self._callback(request, oidc)
        return self.login_page(404, error="no such page")

    def login_page(
        self, status: int, *, error: str | None = None, signed_out: bool = False
    ) -> HttpResponse:
        """The sign-in page: the token form (with a fresh double-submit CSRF token) and
        the single sign-on link, as configured."""
        value = secrets.token_urlsafe(24) if self._methods.token_form else ""
        context: dict[str, object] = {
            "error": error,
            "login_csrf": value,
            "token_form": self._methods.token_form,
            "sso": self._methods.oidc is not None,
            "signed_out": signed_out,
        }
        headers = (cookie(LOGIN_COOKIE, value, 600),) if value else ()
        return self._templates.render(status, "login.html.j2", context, headers)

    async def _token_sign_in(self, request: HttpRequest) -> HttpResponse:
        if not self._methods.token_form:
            return self.login_page(403, error="signing in with a token is off; use single sign-on")
        form = request.form()
        if not same_token(form.get("csrf", ""), request.cookies().get(LOGIN_COOKIE, "")):
            return self.login_page(403, error="the sign-in form has expired; try again")
        try:
            identity = await self._auth.authenticate(form.get("token", ""), client_of(request))
        except AuthenticationFailed as exc:
            return self.login_page(401, error=exc.message)
        value, session = self._sessions.open(identity)
        return redirect(
            "/",
            cookie(SESSION_COOKIE, value, self._sessions.max_age(session)),
            cookie(LOGIN_COOKIE, "", 0),
        )

    async def _start(self, oidc: IdentityProviderSignIn) -> HttpResponse:
        flow = SignInFlow.new()
        try:
            url = await oidc.authorization_url(flow)
        except AuthenticationFailed as exc:
            log.warning("approvals: cannot start an OIDC sign-in: %s", exc.message)
            return self.login_page(503, error=_reading(exc))
        return redirect(url, flow_cookie(flow.seed, FLOW_SECONDS))

    async def _callback(self, request: HttpRequest, oidc: IdentityProviderSignIn) -> HttpResponse:
        cookies = request.cookies()
        flow = SignInFlow.from_cookie(cookies.get(FLOW_COOKIE))
        done = flow_cookie("", 0)  # a sign-in answer is used once, whatever it says
        if flow is None and self._sessions.get(cookies.get(SESSION_COOKIE)) is not None:
            return redirect("/", done)  # back or reload after signing in
        try:
            flow = check_state(request.query, flow)
        except AuthenticationFailed as exc:
            return self._failed(400, request, exc, done)
        try:
            identity = await oidc.finish(flow, authorization_code(request.query))
        except AuthenticationFailed as exc:
            return self._failed(401, request, exc, done)
        # The ID token proves the sign-in; its own (often minutes-short) lifetime is not
        # the session's: [approvals] page_session_seconds is.
        value, session = self._sessions.open(identity, until_token_expiry=False)
        log.info(
            "approvals: %s (issuer %s) signed in to the page with OIDC",
            identity.sub,
            identity.issuer,
        )
        # A 200 page that moves on to / by itself, not a redirect: a redirect chain that
        # began at the issuer is cross-site, and the browser would not send the new
        # SameSite=Strict session cookie with it (then / would start a sign-in again).
        session_cookie = cookie(SESSION_COOKIE, value, self._sessions.max_age(session))
        return self._templates.render(200, "signed_in.html.j2", {}, (session_cookie, done))

    def _failed(
        self,
        status: int,
        request: HttpRequest,
        exc: AuthenticationFailed,
        *headers: tuple[str, str],
    ) -> HttpResponse:
        log.warning("approvals: OIDC sign-in from %s failed: %s", request.client_addr, exc.message)
        page = self.login_page(status, error=f"Sign-in failed: {_reading(exc)}")
        return HttpResponse(page.status, page.body, page.content_type, (*page.headers, *headers))


def _reading(exc: AuthenticationFailed) -> str:
    return exc.message + (f". {exc.hint[:1].upper()}{exc.hint[1:]}." if exc.hint else "")
