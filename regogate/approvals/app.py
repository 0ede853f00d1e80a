"""One handler for everything on ``[approvals] listen``: the JSON API under /api/, a
health check, and the web page (signed in to as ``sign_in`` says: page_sign_in.py)."""

from __future__ import annotations

from regogate.approvals.api import ApprovalsApi, json_response
from regogate.approvals.auth import Authenticator
from regogate.approvals.http_server import Handler, HttpRequest, HttpResponse
from regogate.approvals.page import ApprovalsPage
from regogate.approvals.page_sign_in import SignInMethods
from regogate.approvals.service import ApprovalService
from regogate.approvals.web_session import WebSessions


def approvals_app(
    service: ApprovalService,
    auth: Authenticator,
    sessions: WebSessions,
    sign_in: SignInMethods | None = None,
) -> Handler:
    """``sign_in``: default, the token form only (``sign_in_methods(config, url)`` reads
    [approvals] oidc_client_id and page_token_form)."""
    api = ApprovalsApi(service, auth)
    page = ApprovalsPage(service, auth, sessions, sign_in)

    async def handle(request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return json_response(200, {"status": "ok"})
        if request.path.startswith("/api/"):
            return await api(request)
        return await page(request)

    return handle
