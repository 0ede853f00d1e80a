"""The approvals web page: see pending and recent requests, open one, approve or deny it
with a comment. Server-rendered (Jinja2, autoescaped, page_render.py), no script; every
POST carries the session's CSRF token and must come from this origin. Signing in (OIDC
or a token) is page_sign_in.py's.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from regogate.approvals.auth import Authenticator
from regogate.approvals.errors import ApprovalError, ApprovalStoreError
from regogate.approvals.http_server import HttpRequest, HttpResponse
from regogate.approvals.model import ApprovalRequest, Person, Status, Verdict
from regogate.approvals.page_render import Templates, redirect
from regogate.approvals.page_sign_in import PATHS, SignInMethods, SignInPages
from regogate.approvals.rules import check_decider, person_of
from regogate.approvals.service import ApprovalService
from regogate.approvals.web_session import (
    SESSION_COOKIE,
    WebSession,
    WebSessions,
    cookie,
    same_token,
)

_DETAIL = re.compile(r"/requests/([A-Za-z0-9_-]{1,64})(/decide)?")
RECENT = 20


class ApprovalsPage:
    def __init__(
        self,
        service: ApprovalService,
        auth: Authenticator,
        sessions: WebSessions,
        sign_in: SignInMethods | None = None,
    ):
        self._service = service
        self._sessions = sessions
        self._templates = Templates()
        self._sign_in = SignInPages(self._templates, auth, sessions, sign_in or SignInMethods())

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        path, method = request.path, request.method
        if path == "/static/app.css":
            return HttpResponse(200, self._templates.css, "text/css; charset=utf-8")
        if method == "POST" and not _same_origin(request):
            return self._sign_in.login_page(403, error="cross-site request refused")
        if path in PATHS:
            return await self._sign_in(request)
        session = self._sessions.get(request.cookies().get(SESSION_COOKIE))
        if session is None:
            return redirect("/login")
        if method == "POST" and not same_token(request.form().get("csrf", ""), session.csrf):
            return self._page(
                403,
                "list.html.j2",
                session,
                error="the form has expired; reload the page and try again",
                pending=[],
                recent=[],
            )
        try:
            return await self._route(request, session)
        except ApprovalStoreError as exc:
            return self._page(
                503, "list.html.j2", session, error=exc.message, pending=[], recent=[]
            )

    async def _route(self, request: HttpRequest, session: WebSession) -> HttpResponse:
        path, method = request.path, request.method
        if path == "/logout" and method == "POST":
            self._sessions.close(request.cookies().get(SESSION_COOKIE))
            return redirect("/login?signed_out=1", cookie(SESSION_COOKIE, "", 0))
        if path == "/" and method == "GET":
            return await self._list(session)
        match = _DETAIL.fullmatch(path)
        if match is not None and method == ("POST" if match.group(2) else "GET"):
            if match.group(2):
                return await self._decide(request, session, match.group(1))
            return await self._detail(session, match.group(1))
        return self._page(404, "list.html.j2", session, error="no such page", pending=[], recent=[])

    async def _list(self, session: WebSession) -> HttpResponse:
        person = person_of(session.identity)
        pending = await self._service.listing(person, [Status.PENDING], 100)
        settled = [s for s in Status if s is not Status.PENDING]
        recent = await self._service.listing(person, settled, RECENT)
        return self._page(200, "list.html.j2", session, pending=pending, recent=recent)

    async def _detail(
        self, session: WebSession, request_id: str, *, status: int = 200, error: str | None = None
    ) -> HttpResponse:
        person = person_of(session.identity)
        try:
            request = await self._service.visible(person, request_id)
        except ApprovalError as exc:
            return self._page(
                exc.http_status, "list.html.j2", session, error=exc.message, pending=[], recent=[]
            )
        why_not = _why_not(person, request)
        return self._page(
            status,
            "detail.html.j2",
            session,
            r=request,
            error=error,
            can_decide=why_not is None,
            why_not=why_not or "",
        )

    async def _decide(
        self, request: HttpRequest, session: WebSession, request_id: str
    ) -> HttpResponse:
        form = request.form()
        person = person_of(session.identity)
        try:
            verdict = Verdict(form.get("verdict", ""))
            await self._service.visible(person, request_id)
            await self._service.decide(person, request_id, verdict, form.get("comment", ""))
        except ValueError:
            return await self._detail(
                session, request_id, status=400, error="choose Approve or Deny"
            )
        except ApprovalError as exc:
            return await self._detail(
                session, request_id, status=exc.http_status, error=exc.message
            )
        return redirect(f"/requests/{request_id}")

    def _page(
        self, status: int, template: str, session: WebSession, **context: object
    ) -> HttpResponse:
        context["me"] = person_of(session.identity)
        context["csrf"] = session.csrf
        return self._templates.render(status, template, context)


def _why_not(person: Person, request: ApprovalRequest) -> str | None:
    """Why ``person`` cannot decide ``request`` (None: they can; "" when it is decided)."""
    if request.status is not Status.PENDING:
        return ""
    try:
        check_decider(person, request)
    except ApprovalError as exc:
        return exc.message
    return None


def _same_origin(request: HttpRequest) -> bool:
    """A POST must come from a page of this server: Origin (when sent) names our Host,
    and Sec-Fetch-Site (when sent) says same-origin."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")
