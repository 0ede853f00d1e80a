"""The page's sign-in sessions and CSRF tokens, kept in this process's memory.

A session cookie is 256 random bits (HttpOnly, Secure, SameSite=Strict), mapped here to
the identity that signed in and to the session's CSRF token, which every form posts
back. A session ends after ``[approvals] page_session_seconds``, at sign-out, and, for a
sign-in with a pasted token, at that token's own expiry if sooner (an OIDC sign-in's ID
token only proves the sign-in). A restart signs everybody out; each replica has its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from regogate.identity import Identity

SESSION_COOKIE = "rg_approvals"
LOGIN_COOKIE = "rg_approvals_login"  # the sign-in form's CSRF token (double submit)
MAX_SESSIONS = 10_000


@dataclass(frozen=True)
class WebSession:
    identity: Identity
    csrf: str = field(repr=False)
    expires_at: float


def same_token(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def cookie(
    name: str, value: str, max_age: int, *, same_site: str = "Strict", path: str = "/"
) -> tuple[str, str]:
    return (
        "Set-Cookie",
        f"{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite={same_site}",
    )


class WebSessions:
    def __init__(self, lifetime: float, clock: Callable[[], float] = time.time):
        self._lifetime = lifetime
        self._clock = clock
        self._by_digest: dict[str, WebSession] = {}

    def open(
        self, identity: Identity, *, until_token_expiry: bool = True
    ) -> tuple[str, WebSession]:
        """A new session: the cookie value (kept only as a digest here) and the session;
        ``until_token_expiry``: it ends when the identity's token expires, if sooner."""
        self._sweep()
        now = self._clock()
        expires = now + self._lifetime
        if until_token_expiry and identity.expires_at is not None:
            expires = min(expires, identity.expires_at)
        value = secrets.token_urlsafe(32)
        session = WebSession(identity, secrets.token_urlsafe(32), expires)
        if len(self._by_digest) >= MAX_SESSIONS:
            oldest = min(self._by_digest, key=lambda k: self._by_digest[k].expires_at)
            del self._by_digest[oldest]
        self._by_digest[_digest(value)] = session
        return value, session

    def get(self, value: str | None) -> WebSession | None:
        if not value:
            return None
        session = self._by_digest.get(_digest(value))
        if session is None or session.expires_at <= self._clock():
            return None
        return session

    def close(self, value: str | None) -> None:
        if value:
            self._by_digest.pop(_digest(value), None)

    def max_age(self, session: WebSession) -> int:
        return max(0, int(session.expires_at - self._clock()))

    def _sweep(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._by_digest.items() if s.expires_at <= now]:
            del self._by_digest[key]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
