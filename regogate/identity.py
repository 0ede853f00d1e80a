"""Who is connecting: identities and the providers that turn a presented token into one.

A provider returns ``None`` when a credential is not its kind (so an OIDC provider can
sit beside static tokens) and raises AuthenticationFailed when it is its kind but bad.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from regogate.config import StaticToken
from regogate.errors import AuthenticationFailed


@dataclass(frozen=True)
class ClientInfo:
    addr: str
    port: int
    user: str
    application_name: str | None
    tls: bool


@dataclass(frozen=True)
class Identity:
    sub: str
    groups: tuple[str, ...]
    auth: str
    issuer: str
    token_sha256: str = field(repr=False)
    email: str | None = None
    expires_at: float | None = None

    def policy_input(self, client: ClientInfo) -> dict[str, object]:
        return {
            "sub": self.sub,
            "email": self.email,
            "groups": list(self.groups),
            "issuer": self.issuer,
            "auth": self.auth,
            "expires_at": self.expires_at,
            "client": {"addr": client.addr, "application_name": client.application_name},
        }


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class IdentityProvider(Protocol):
    """Turns the password a client sent into an Identity."""

    async def authenticate(self, token: str, client: ClientInfo) -> Identity | None: ...


class StaticTokenProvider:
    """Service tokens from the config, stored only as SHA-256 hashes."""

    def __init__(self, tokens: Sequence[StaticToken]):
        self._tokens = tuple(tokens)

    async def authenticate(self, token: str, client: ClientInfo) -> Identity | None:
        digest = token_sha256(token)
        match = None
        for t in self._tokens:
            # Compare every entry in constant time so timing says nothing about which matched.
            if hmac.compare_digest(t.token_sha256, digest):
                match = t
        if match is None:
            return None
        return Identity(
            sub=match.sub,
            groups=match.groups,
            auth="token",
            issuer="regogate:static",
            token_sha256=digest,
            email=match.email,
        )


class IdentityChain:
    """Asks each provider in turn; the first that recognizes the token decides."""

    def __init__(self, providers: Sequence[IdentityProvider]):
        self._providers = tuple(providers)

    async def authenticate(self, token: str, client: ClientInfo) -> Identity:
        if not token:
            raise AuthenticationFailed(
                f'no token presented for user "{client.user}"',
                hint="send your regogate token as the password",
            )
        for provider in self._providers:
            identity = await provider.authenticate(token, client)
            if identity is not None:
                return identity
        raise AuthenticationFailed(
            f'token authentication failed for user "{client.user}": the token is not valid',
            hint="check the token you passed as the password (it is not shown here)",
        )
