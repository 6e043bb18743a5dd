"""Request safety: CSRF tokens, password hashing, the client address, a rate limiter."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request

__all__ = [
    "RateLimiter",
    "check_csrf",
    "client_address",
    "csrf_token",
    "hash_password",
    "verify_password",
]

_HASHER = PasswordHasher()
# Compared against when the user does not exist, so both paths cost one argon2 verification.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored_hash`` (None: no such user, still costs a hash)."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> bool:
    """True when a submitted form carries the session's token."""
    expected = request.session.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(submitted, str)
        and hmac.compare_digest(expected, submitted)
    )


def client_address(request: Request, trusted_header: str) -> str | None:
    """The visitor's address: the trusted proxy header's first entry, else the peer address."""
    candidate: str | None = None
    if trusted_header:
        raw = request.headers.get(trusted_header, "")
        candidate = raw.split(",")[0].strip() or None
    if candidate is None and request.client is not None:
        candidate = request.client.host
    if candidate is None:
        return None
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


_PRUNE_AT = 10_000


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (sliding window, in memory)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Record an event for ``key``; False when the key is over its limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._events) > _PRUNE_AT:
                self._prune(now)
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True

    def _prune(self, now: float) -> None:
        # Forget addresses with no event inside the window, so memory stays bounded.
        for key in [k for k, v in self._events.items() if not v or v[-1] <= now - self.window]:
            del self._events[key]
