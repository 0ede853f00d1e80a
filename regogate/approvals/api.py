"""The approvals HTTP API (JSON, bearer token): list, show, approve and deny requests.

Routes (docs/approvals.md has the reference with examples):

    GET  /api/v1/whoami
    GET  /api/v1/requests[?status=pending,approved&limit=50]
    GET  /api/v1/requests/{id}
    POST /api/v1/requests/{id}/approve   {"comment": "…"}
    POST /api/v1/requests/{id}/deny      {"comment": "…"}   (a reason is required)

Errors are ``{"error": {"code", "message", "hint", "sqlstate"}}`` with the status of the
error class (approvals/errors.py); an unauthenticated call gets 401.
"""

from __future__ import annotations

import json
import re

from regogate.approvals.auth import Authenticator, bearer_token, identify
from regogate.approvals.errors import ApprovalError, ApprovalNotFound, ApprovalStoreError
from regogate.approvals.http_server import HttpRequest, HttpResponse
from regogate.approvals.model import Status, Verdict
from regogate.approvals.rules import person_of
from regogate.approvals.service import ApprovalService
from regogate.errors import AuthenticationFailed, RegogateError

PREFIX = "/api/v1"
_REQUEST = re.compile(r"/api/v1/requests/([A-Za-z0-9_-]{1,64})(?:/(approve|deny))?")
MAX_LIMIT = 500


def json_response(status: int, body: object) -> HttpResponse:
    return HttpResponse(status, json.dumps(body, indent=1).encode() + b"\n", "application/json")


def error_response(exc: RegogateError) -> HttpResponse:
    status = getattr(exc, "http_status", 400)
    code = getattr(exc, "code", "bad_request")
    headers: tuple[tuple[str, str], ...] = ()
    if isinstance(exc, AuthenticationFailed):
        status, code = 401, "unauthenticated"
        headers = (("WWW-Authenticate", 'Bearer realm="regogate approvals"'),)
    body = {
        "error": {"code": code, "message": exc.message, "hint": exc.hint, "sqlstate": exc.sqlstate}
    }
    response = json_response(status, body)
    return HttpResponse(response.status, response.body, response.content_type, headers)


class ApprovalsApi:
    def __init__(self, service: ApprovalService, auth: Authenticator):
        self._service = service
        self._auth = auth

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return await self._route(request)
        except (ApprovalError, ApprovalStoreError, AuthenticationFailed) as exc:
            return error_response(exc)

    async def _route(self, request: HttpRequest) -> HttpResponse:
        identity = await identify(self._auth, request, bearer_token(request))
        person = person_of(identity)
        path = request.path.rstrip("/")
        if path == f"{PREFIX}/whoami" and request.method == "GET":
            return json_response(200, {"identity": person.to_json(), "auth": identity.auth})
        if path == f"{PREFIX}/requests":
            _only(request, "GET")
            statuses, limit = _filters(request)
            found = await self._service.listing(person, statuses, limit)
            return json_response(200, {"requests": [r.public_json() for r in found]})
        match = _REQUEST.fullmatch(path)
        if match is None:
            raise ApprovalNotFound(f"no such API route: {request.method} {path}")
        request_id, action = match.group(1), match.group(2)
        if action is None:
            _only(request, "GET")
            found_one = await self._service.visible(person, request_id)
            return json_response(200, found_one.public_json())
        _only(request, "POST")
        await self._service.visible(person, request_id)
        comment = _comment(request)
        decided = await self._service.decide(person, request_id, Verdict(action), comment)
        return json_response(200, decided.public_json())


def _only(request: HttpRequest, method: str) -> None:
    if request.method != method:
        raise ApprovalError(f"{request.path} takes {method}, not {request.method}")


def _filters(request: HttpRequest) -> tuple[list[Status], int]:
    query = request.query
    statuses: list[Status] = []
    for word in filter(None, query.get("status", "").split(",")):
        try:
            statuses.append(Status(word))
        except ValueError:
            known = ", ".join(s.value for s in Status)
            raise ApprovalError(f"unknown status {word!r} (known: {known})") from None
    raw = query.get("limit", "100")
    if not raw.isdigit() or not 0 < int(raw) <= MAX_LIMIT:
        raise ApprovalError(f"limit must be 1..{MAX_LIMIT}")
    return statuses, int(raw)


def _comment(request: HttpRequest) -> str:
    if not request.body.strip():
        return ""
    try:
        body = json.loads(request.body)
    except ValueError:
        raise ApprovalError('the body must be JSON: {"comment": "…"}') from None
    if not isinstance(body, dict):
        raise ApprovalError('the body must be a JSON object: {"comment": "…"}')
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        raise ApprovalError("comment must be a string")
    return comment
