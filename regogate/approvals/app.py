"""One handler for everything on ``[approvals] listen``: the JSON API under /api/, a
health check, and the web page."""

from __future__ import annotations

from regogate.approvals.api import ApprovalsApi, json_response
from regogate.approvals.auth import Authenticator
from regogate.approvals.http_server import Handler, HttpRequest, HttpResponse
from regogate.approvals.page import ApprovalsPage
from regogate.approvals.service import ApprovalService
from regogate.approvals.web_session import WebSessions


def approvals_app(service: ApprovalService, auth: Authenticator, sessions: WebSessions) -> Handler:
    api = ApprovalsApi(service, auth)
    page = ApprovalsPage(service, auth, sessions)

    async def handle(request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return json_response(200, {"status": "ok"})
        if request.path.startswith("/api/"):
            return await api(request)
        return await page(request)

    return handle
