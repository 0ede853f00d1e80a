"""Who is calling the approvals API or signing in to the page: a bearer token (a static
``[[tokens]]`` token or an OIDC JWT) turned into an identity by the gateway's own identity
chain, so approvers authenticate exactly as clients do (docs/identity.md)."""

from __future__ import annotations

from typing import Protocol

from regogate.approvals.http_server import HttpRequest
from regogate.errors import AuthenticationFailed
from regogate.identity import ClientInfo, Identity

API_USER = "approvals"  # the "user" named in authentication messages


class Authenticator(Protocol):
    async def authenticate(self, token: str, client: ClientInfo) -> Identity: ...


def client_of(request: HttpRequest) -> ClientInfo:
    return ClientInfo(
        request.client_addr,
        request.client_port,
        API_USER,
        request.headers.get("user-agent"),
        tls=False,
    )


def bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "no bearer token: send Authorization: Bearer <token>",
            hint="a [[tokens]] token or an OIDC access token of a configured issuer",
        )
    return token.strip()


async def identify(auth: Authenticator, request: HttpRequest, token: str) -> Identity:
    return await auth.authenticate(token, client_of(request))
